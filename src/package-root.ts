import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PackageInfo {
  /** The directory holding tsbuild's package.json. */
  root: string;
  version: string;
}

let found: PackageInfo | null | undefined;

/**
 * tsbuild's own package: found by walking up from this file, which sits at different depths in
 * src/ (tests), dist/src/ and dist/bundle/. Undefined if it cannot be found.
 */
export function packageInfo(): PackageInfo | undefined {
  if (found !== undefined) return found ?? undefined;
  found = null;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tsbuild' && pkg.version) {
        found = { root: dir, version: pkg.version };
        return found;
      }
    } catch {
      // not here; keep walking up
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
