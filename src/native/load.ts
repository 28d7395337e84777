import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageInfo } from '../package-root.js';

const modules = new Map<string, unknown>();

/**
 * `dist/native/<name>.node` (built by `npm run build`, see scripts/build-native.js), loaded once;
 * undefined when it was not built, does not load here, or TSBUILD_NO_NATIVE=1. Every caller has a
 * way to do without it.
 */
export function loadNative<T>(name: string): T | undefined {
  if (modules.has(name)) return (modules.get(name) ?? undefined) as T | undefined;
  let mod: T | null = null;
  const root = packageInfo()?.root;
  if (root && process.platform === 'linux' && process.env.TSBUILD_NO_NATIVE !== '1') {
    try {
      mod = createRequire(import.meta.url)(join(root, 'dist', 'native', `${name}.node`)) as T;
    } catch {
      mod = null;
    }
  }
  modules.set(name, mod);
  return mod ?? undefined;
}
