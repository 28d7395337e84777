import { formatReference, parseReference, ReferenceError } from '../image/reference.js';

/**
 * The stored form of an image name: `busybox` -> `docker.io/library/busybox:latest`. Names carry a
 * tag, never a digest: a digest already names content and needs no entry.
 */
export function normalizeName(name: string): string {
  const ref = parseReference(name);
  if (ref.digest && !ref.tag) throw new ReferenceError(`invalid image name ${JSON.stringify(name)}: a name needs a tag, not a digest`);
  return formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag ?? 'latest' });
}
