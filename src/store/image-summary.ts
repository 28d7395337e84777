import type { Descriptor } from '../image/descriptor.js';
import type { Digest } from '../image/digest.js';
import { type Image, imageSize, loadImage } from '../image/image.js';
import { familiarName, parseReference } from '../image/reference.js';
import type { Store } from './store.js';

/** One line of `tsbuild images`. */
export interface ImageSummary {
  name: string;
  repository: string;
  tag: string;
  /** Docker's image ID: the config digest (the manifest/index digest when there is no config for this platform). */
  id: Digest;
  /** The digest the name points at (manifest or index). */
  digest: Digest;
  created: string | null;
  size: number;
}

export async function summarizeImage(store: Store, name: string, target: Descriptor): Promise<ImageSummary> {
  const ref = parseReference(name);
  const base = {
    name: familiarName(ref),
    repository: familiarName({ registry: ref.registry, repository: ref.repository }),
    tag: ref.tag ?? '',
    digest: target.digest,
  };
  let img: Image | undefined;
  try {
    img = await loadImage(store, target);
  } catch {
    img = undefined; // an index without this platform, or missing blobs: still listed
  }
  if (!img) return { ...base, id: target.digest, created: null, size: target.size };
  return { ...base, id: img.manifest.config.digest, created: img.config.created ?? null, size: imageSize(img) };
}

export async function listImageSummaries(store: Store): Promise<ImageSummary[]> {
  const out: ImageSummary[] = [];
  for (const r of await store.images.list()) out.push(await summarizeImage(store, r.name, r.target));
  return out;
}

/** `12.3MB` the way docker prints sizes (decimal units). */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

/** `3 days ago`, coarse as docker's. */
export function humanAge(iso: string | null, now = Date.now()): string {
  if (!iso) return 'N/A';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'N/A';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  const steps: [number, string][] = [
    [365 * 86400, 'year'],
    [30 * 86400, 'month'],
    [7 * 86400, 'week'],
    [86400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
  ];
  for (const [sec, unit] of steps) {
    const n = Math.floor(s / sec);
    if (n >= 1) return `${n} ${unit}${n > 1 ? 's' : ''} ago`;
  }
  return 'Less than a minute ago';
}
