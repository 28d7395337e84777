/**
 * The checks on a `RUN --mount=` value that hold whatever the build arguments are (keys are never
 * expanded; a value without `$` is final): the CSV fields, known keys, the mount type and sharing
 * mode, and `from` not taking variables. Values are interpreted by the executor after expansion.
 */
const keys = new Set(['type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid', 'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env']);
const bareKeys = new Set(['readonly', 'ro', 'readwrite', 'rw', 'required']);
const types = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const sharing = ['shared', 'private', 'locked'];

/** Splits a CSV record (RFC 4180 quotes); null when a quote is not closed. */
export function csvFields(value: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (value[i] === '"') {
      i++;
      for (;;) {
        const q = value.indexOf('"', i);
        if (q < 0) return null;
        field += value.slice(i, q);
        i = q + 1;
        if (value[i] === '"') {
          field += '"';
          i++;
          continue;
        }
        break;
      }
      if (i < value.length && value[i] !== ',') return null;
    } else {
      const c = value.indexOf(',', i);
      field = c < 0 ? value.slice(i) : value.slice(i, c);
      if (field.includes('"')) return null;
      i = c < 0 ? value.length : c;
    }
    fields.push(field);
    if (i >= value.length) return fields;
    i++; // the comma
  }
}

/** The reason a mount spec can never be valid, or null. */
export function checkMount(value: string): string | null {
  const fields = csvFields(value);
  if (!fields) return `failed to parse csv mounts: bare or unterminated quote in ${JSON.stringify(value)}`;
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (!bareKeys.has(key)) return `invalid field '${field}' must be a key=value pair`;
      continue;
    }
    const v = field.slice(eq + 1);
    if (!keys.has(key)) return `unexpected key '${key}' in '${field}'`;
    const literal = !v.includes('$');
    if (key === 'type' && literal && !types.includes(v.toLowerCase())) return `unsupported mount type ${JSON.stringify(v)}`;
    if (key === 'sharing' && literal && !sharing.includes(v.toLowerCase())) return `unsupported sharing value ${JSON.stringify(v)}`;
    if (key === 'from') {
      const d = v.indexOf('$');
      if (d !== -1 && d !== v.length - 1) return `'from' doesn't support variable expansion, define alias stage instead`;
    }
  }
  return null;
}
