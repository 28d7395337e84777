import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

/** A Writable that keeps what was written, for asserting on CLI output. */
export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Environment for the command; defaults to this process's, with HOME kept away from the real one. */
  env?: NodeJS.ProcessEnv;
  stderr?: Capture;
  signal?: AbortSignal;
}

/** Runs `tsbuild ARGV...` in-process, as a user would from a shell, and captures its output. */
export async function runCli(argv: string[], opts: CliOptions = {}): Promise<CliResult> {
  const stdout = new Capture();
  const stderr = opts.stderr ?? new Capture();
  const code = await main(argv, {
    stdout,
    stderr,
    env: opts.env ?? { ...process.env, HOME: '/nonexistent' },
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
