import { posix } from 'node:path';
import type { RunMount } from '../../plan/build-graph.js';
import { MountError } from './types.js';

/**
 * Where a mount appears in the container: relative targets are relative to WORKDIR (BuildKit's rule).
 * `index` is the mount's position in the step: an ssh mount without target is `/run/buildkit/ssh_agent.<index>`.
 */
export function mountTarget(m: RunMount, workdir: string, index: number): string {
  let t = m.target;
  if (!t) {
    if (m.type === 'secret') t = `/run/secrets/${secretId(m)}`;
    else if (m.type === 'ssh') t = `/run/buildkit/ssh_agent.${index}`;
    else throw new MountError(`${m.type} mount needs a target`);
  }
  const abs = posix.normalize(t.startsWith('/') ? t : posix.join('/', workdir, t));
  return abs.length > 1 && abs.endsWith('/') ? abs.slice(0, -1) : abs;
}

/** A secret's id: `id=`, or `source=` (its alias), or the target's base name. */
export function secretId(m: RunMount): string {
  const id = m.id || m.source || (m.target ? posix.basename(m.target) : '');
  if (!id) throw new MountError('secret mount needs an id or a target');
  return id;
}

/** True for a secret mount that only sets an environment variable (`env=` without `target=`). */
export function secretEnvOnly(m: RunMount): boolean {
  return m.type === 'secret' && !!m.env && !m.target;
}
