import { Writable } from 'node:stream';
import { runContainer, type RuntimeName } from './runtime/runner.js';
import type { OciMount } from './runtime/spec.js';

export interface RunStepOptions {
  runtime: RuntimeName;
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  user: string;
  network: 'host' | 'none';
  /** RUN --mount's mounts (prepared by mounts/prepare.ts), over the standard ones. */
  mounts?: OciMount[];
  onStdout: (chunk: Buffer) => void;
  onStderr: (chunk: Buffer) => void;
  signal: AbortSignal;
}

function sinkOf(fn: (chunk: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      fn(chunk);
      cb();
    },
  });
}

/** A RUN step in the OCI runtime, its output going to the progress display. */
export async function runStep(o: RunStepOptions): Promise<{ exitCode: number }> {
  const res = await runContainer({
    runtime: o.runtime,
    rootfs: o.rootfs,
    args: o.args,
    env: o.env,
    cwd: o.cwd,
    user: o.user,
    // BuildKit's hostname for build containers.
    hostname: 'buildkitsandbox',
    network: o.network,
    ...(o.mounts ? { mounts: o.mounts } : {}),
    stdout: sinkOf(o.onStdout),
    stderr: sinkOf(o.onStderr),
    signal: o.signal,
  });
  return { exitCode: res.exitCode };
}
