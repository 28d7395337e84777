import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { firstLine, runTool } from '../snapshot/run-tool.js';
import { recordMountTargets, removeMountStubs } from './mount-stubs.js';
import { createRuntimeSpec, DEFAULT_NOFILE, type NetworkMode, type OciMount, standardMounts, type UserIds } from './spec.js';
import { resolveUser } from './user.js';
import { inUserNamespace, runtimeGlobalArgs } from '../../rootless/namespace.js';

export type RuntimeName = 'runc' | 'crun';

/** The runtime could not run the container at all (as opposed to the process exiting non-zero). */
export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

export interface RunContainerOptions {
  runtime?: RuntimeName;
  /** The mounted snapshot (ActiveSnapshot.rootfs). */
  rootfs: string;
  args: string[];
  env?: string[];
  /** Default `/`. */
  cwd?: string;
  /** A USER string resolved through the rootfs's /etc/passwd and /etc/group, or ids. Default root. */
  user?: string | UserIds;
  /** Default `tsbuild`. */
  hostname?: string;
  /** Default `host`. */
  network?: NetworkMode;
  rootfsReadonly?: boolean;
  /** Extra OCI mounts (RUN --mount). Their stubs are cleaned like the standard ones. */
  mounts?: OciMount[];
  /** Live output; never ended by the runner. */
  stdout: Writable;
  stderr: Writable;
  stdin?: Readable;
  /** Aborting kills the container (SIGKILL), removes its state and resolves with `aborted: true`. */
  signal?: AbortSignal;
  /** Where the bundle's temp dir goes (default the OS temp dir). */
  bundleRoot?: string;
}

export interface RunResult {
  exitCode: number;
  /** Set when the process was killed by a signal (exit code 128+n). */
  signal?: NodeJS.Signals;
  aborted?: boolean;
}

const SIGNALS: Record<number, NodeJS.Signals> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 6: 'SIGABRT', 9: 'SIGKILL', 13: 'SIGPIPE', 15: 'SIGTERM' };

/** The host's hard RLIMIT_NOFILE: the container cannot get more than its parent may have. */
export async function hostNofileLimit(): Promise<number> {
  try {
    const text = await readFile('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+\S+\s+(\S+)/m.exec(text);
    if (!m) return DEFAULT_NOFILE;
    return m[1] === 'unlimited' ? DEFAULT_NOFILE : Number(m[1]);
  } catch {
    return DEFAULT_NOFILE;
  }
}

/** /etc/resolv.conf for the container: the host's; without loopback nameservers unless on the host network. */
export async function resolvConf(network: NetworkMode): Promise<string> {
  let text = '';
  try {
    text = await readFile('/etc/resolv.conf', 'utf8');
  } catch {
    // no host resolver config: fall through to defaults
  }
  if (network === 'host' && text) return text;
  const kept = text.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l));
  if (!kept.some((l) => /^\s*nameserver\s/.test(l))) kept.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4');
  return `${kept.filter((l, i) => l !== '' || i < kept.length - 1).join('\n')}\n`;
}

export function hostsFile(hostname: string): string {
  return `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t${hostname}\n`;
}

/** Keeps the last few KiB of a stream to explain a runtime failure. */
class Tail {
  private buf = '';
  add(chunk: Buffer): void {
    this.buf = (this.buf + chunk.toString('utf8')).slice(-8192);
  }
  get text(): string {
    return this.buf;
  }
}

/** What crun says on hosts with a hybrid (v1 + v2) cgroup tree, like this project's VMs. */
const CRUN_CGROUP = /hybrid mode not supported|cgroups? .*not supported/i;

/**
 * Runs one process in a fresh container on `rootfs` with runc (or crun) and waits for it.
 * Output streams live to the sinks. Whatever happens (exit, failure, abort) the container and its
 * state are gone, the bundle dir is removed and the mount-point stubs the runtime made are cleaned
 * from the rootfs (see mount-stubs.ts) before this resolves.
 */
export async function runContainer(opts: RunContainerOptions): Promise<RunResult> {
  const runtime = opts.runtime ?? 'runc';
  if (opts.signal?.aborted) return { exitCode: 137, signal: 'SIGKILL', aborted: true };
  const rootfs = resolve(opts.rootfs);
  const user = typeof opts.user === 'object' ? opts.user : await resolveUser(rootfs, opts.user ?? '');
  const network = opts.network ?? 'host';
  const hostname = opts.hostname ?? 'tsbuild';
  const bundle = await mkdtemp(join(opts.bundleRoot ?? tmpdir(), 'tsbuild-bundle-'));
  const id = `tsbuild-${randomBytes(8).toString('hex')}`;
  try {
    const resolvConfPath = join(bundle, 'resolv.conf');
    const hostsPath = join(bundle, 'hosts');
    await writeFile(resolvConfPath, await resolvConf(network));
    await writeFile(hostsPath, hostsFile(hostname));
    const spec = createRuntimeSpec({
      args: opts.args,
      env: opts.env ?? [],
      cwd: opts.cwd || '/',
      user,
      hostname,
      network,
      rootfs,
      rootfsReadonly: opts.rootfsReadonly,
      mounts: opts.mounts,
      resolvConfPath,
      hostsPath,
      nofileLimit: await hostNofileLimit(),
      rootless: inUserNamespace(),
    });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    const destinations = [...standardMounts({ resolvConfPath, hostsPath }), ...(opts.mounts ?? [])].map((m) => m.destination);
    const stubs = await recordMountTargets(rootfs, destinations);
    try {
      return await execute(runtime, bundle, id, opts);
    } finally {
      await removeMountStubs(rootfs, stubs);
    }
  } finally {
    await rm(bundle, { recursive: true, force: true });
  }
}

async function execute(runtime: RuntimeName, bundle: string, id: string, opts: RunContainerOptions): Promise<RunResult> {
  // Aborted while the bundle was being written: start nothing.
  if (opts.signal?.aborted) return { exitCode: 137, signal: 'SIGKILL', aborted: true };
  const child = spawn(runtime, [...runtimeGlobalArgs(), 'run', '--bundle', bundle, id], {
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const tail = new Tail();
  child.stdout!.pipe(opts.stdout, { end: false });
  child.stderr!.on('data', (d: Buffer) => {
    tail.add(d);
    opts.stderr.write(d);
  });
  if (opts.stdin && child.stdin) {
    child.stdin.on('error', () => undefined);
    opts.stdin.pipe(child.stdin);
  }
  let aborted = false;
  let spawnError: Error | undefined;
  const onAbort = () => {
    aborted = true;
    // runc forwards nothing on its own death: the container must be killed by id.
    void runTool(runtime, [...runtimeGlobalArgs(), 'kill', id, 'KILL']).then((r) => {
      if (r.code !== 0) child.kill('SIGKILL');
    });
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // An abort between the check above and here fired no listener: act on it now.
  if (opts.signal?.aborted) onAbort();
  let code: number;
  try {
    code = await new Promise<number>((resolveExit) => {
      child.on('error', (e) => {
        spawnError = e;
      });
      child.on('close', (c, sig) => resolveExit(c ?? (sig ? 128 + 9 : 1)));
    });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (opts.stdin && child.stdin) opts.stdin.unpipe(child.stdin);
  }
  if (spawnError) {
    const missing = (spawnError as NodeJS.ErrnoException).code === 'ENOENT';
    throw new RuntimeError(missing ? `${runtime} not found: install it (Debian package ${runtime})` : `cannot start ${runtime}: ${spawnError.message}`);
  }
  if (aborted || code !== 0) {
    // Normally runc removes the container itself when it exits; make sure after a kill or a failure.
    await runTool(runtime, [...runtimeGlobalArgs(), 'delete', '--force', id]);
  }
  if (aborted) return { exitCode: code, signal: 'SIGKILL', aborted: true };
  if (code !== 0) {
    const err = runtimeFailure(runtime, tail.text);
    if (err) throw err;
  }
  const result: RunResult = { exitCode: code };
  if (code > 128 && SIGNALS[code - 128]) result.signal = SIGNALS[code - 128];
  return result;
}

/** Tells the runtime's own failures (it could not start the process) from the process's exit status. */
function runtimeFailure(runtime: RuntimeName, stderr: string): RuntimeError | undefined {
  const lines = stderr.split('\n').filter(Boolean);
  if (runtime === 'crun') {
    const cg = lines.find((l) => CRUN_CGROUP.test(l));
    if (cg) return new RuntimeError(`crun refuses this host's cgroup setup (${cg.replace(/^crun:\s*/, '').trim()}); use --runtime runc`);
    const line = lines.find((l) => l.startsWith('crun:'));
    return line ? new RuntimeError(`crun: ${line.replace(/^crun:\s*/, '').trim()}`) : undefined;
  }
  const line = lines.find((l) => /level=error msg=|^runc run failed|^ERRO\[/.test(l));
  if (!line) return undefined;
  const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1]?.replace(/\\"/g, '"') ?? line;
  return new RuntimeError(`runc: ${firstLine(msg.replace(/^.*?runc run failed:\s*/, ''))}`);
}
