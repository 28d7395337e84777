/**
 * Subordinate id ranges (/etc/subuid, /etc/subgid): the ids a user may map into a user namespace
 * through newuidmap/newgidmap, beyond their own. Entries name the user or give the numeric uid.
 */

export interface SubIdRange {
  start: number;
  count: number;
}

/** The ranges of `/etc/subuid`-style `text` that belong to the user `name` or uid `id`, in file order. */
export function subIdRanges(text: string, name: string, id: number): SubIdRange[] {
  const out: SubIdRange[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [who = '', start = '', count = ''] = line.split(':');
    if (who !== name && who !== String(id)) continue;
    if (!/^\d+$/.test(start) || !/^\d+$/.test(count)) continue;
    const r = { start: Number(start), count: Number(count) };
    if (r.count > 0) out.push(r);
  }
  return out;
}

