import { createHash } from 'node:crypto';
import type { Step } from '../plan/build-graph.js';

/** A step's cache key: `sha256:<hex>`. Equal keys mean equal results, so a hit needs no work. */
export type CacheKey = `sha256:${string}`;

function sortedObject(o: Record<string, string>): [string, string][] {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The canonical form of a step: its kind and expanded fields, the build args and environment it can
 * see, but not its place in the file (moving a line or editing a comment keeps the cache).
 */
export function canonicalStep(step: Step): unknown {
  const { instruction: _i, location: _l, index: _x, referenced: _r, buildArgs, env, ...fields } = step as Step & Record<string, unknown>;
  return { ...fields, buildArgs: sortedObject(buildArgs), env: sortedObject(env) };
}

/** The key of the state a stage starts from. */
export function baseKey(base: { type: 'scratch' } | { type: 'image'; digest: string } | { type: 'stage'; key: CacheKey }, platform: string): CacheKey {
  const h = createHash('sha256').update('tsbuild-base-v1\n').update(platform).update('\n');
  if (base.type === 'scratch') h.update('scratch');
  else if (base.type === 'image') h.update(`image ${base.digest}`);
  else h.update(`stage ${base.key}`);
  return `sha256:${h.digest('hex')}`;
}

/**
 * key = sha256(parent key, canonical instruction, visible args and env, input checksums). Input
 * checksums cover path, mode, owner and content of copied files, never mtime.
 */
export function stepKey(parent: CacheKey, step: Step, inputs: readonly string[] = []): CacheKey {
  const h = createHash('sha256').update('tsbuild-step-v1\n').update(parent).update('\n');
  h.update(JSON.stringify(canonicalStep(step))).update('\n');
  for (const i of inputs) h.update(i).update('\n');
  return `sha256:${h.digest('hex')}`;
}
