import { createHash } from 'node:crypto';
import type { RunMount } from '../../plan/build-graph.js';
import { mountTarget, secretEnvOnly, secretId } from './target.js';

/** What the executor knows about a RUN's mount sources when it computes the step's key. */
export interface MountKeyInputs {
  /** The final cache key of stage `index` (`from=<stage>`). */
  stageKey(index: number): string | Promise<string>;
  /** The manifest digest of image `ref` (`from=<image>`). */
  imageDigest(ref: string): string | Promise<string>;
  /** The content checksum of `source` in the build context: a bind mount of the context is an input. */
  contextChecksum(source: string): string | Promise<string>;
}

/**
 * The part of a RUN's cache key its mounts contribute: type, target, options and the identity of
 * what bind mounts read (stage key, image digest, context checksum). Never a secret's or an agent's
 * content, never a cache mount's content (those are not inputs by design, as in BuildKit).
 */
export async function cacheKeyOf(mounts: readonly RunMount[], inputs: MountKeyInputs, workdir = '/'): Promise<string> {
  const parts: unknown[] = [];
  for (const [i, m] of mounts.entries()) {
    const target = secretEnvOnly(m) ? null : mountTarget(m, workdir, i);
    const from = async (): Promise<string | null> => {
      if (m.from?.type === 'stage') return `stage ${await inputs.stageKey(m.from.index)}`;
      if (m.from?.type === 'image') return `image ${await inputs.imageDigest(m.from.ref)}`;
      return null;
    };
    switch (m.type) {
      case 'bind':
        parts.push({ type: 'bind', target, ro: m.readonly, source: m.source ?? '/', from: (await from()) ?? `context ${await inputs.contextChecksum(m.source ?? '/')}` });
        break;
      case 'cache':
        parts.push({
          type: 'cache',
          target,
          ro: m.readonly,
          id: m.id || target,
          sharing: m.sharing ?? 'shared',
          mode: m.mode ?? null,
          uid: m.uid ?? null,
          gid: m.gid ?? null,
          from: await from(),
          source: m.from ? (m.source ?? '/') : null,
        });
        break;
      case 'tmpfs':
        parts.push({ type: 'tmpfs', target, size: m.size ?? null });
        break;
      case 'secret':
        parts.push({ type: 'secret', target, id: secretId(m), env: m.env ?? null, required: m.required, mode: m.mode ?? null, uid: m.uid ?? null, gid: m.gid ?? null });
        break;
      case 'ssh':
        parts.push({ type: 'ssh', target, id: m.id || 'default', required: m.required, mode: m.mode ?? null, uid: m.uid ?? null, gid: m.gid ?? null });
        break;
    }
  }
  return `sha256:${createHash('sha256').update('tsbuild-run-mounts-v1\n').update(JSON.stringify(parts)).digest('hex')}`;
}
