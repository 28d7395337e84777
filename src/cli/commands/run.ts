import { ensureUnpacked, prepareSnapshotRoots } from '../../build/snapshot/layer-cache.js';
import { detectSnapshotter } from '../../build/snapshot/detect.js';
import { runContainer, type RuntimeName } from '../../build/runtime/runner.js';
import type { NetworkMode } from '../../build/runtime/spec.js';
import { loadImage } from '../../image/image.js';
import { openStore } from '../../store/store.js';
import { bool, type Command, str, strs, UsageError } from '../command.js';
import { CliError } from '../errors.js';

/** `-e K=V` sets; `-e K` takes K from tsbuild's own environment (skipped when unset), as docker does. */
export function mergeEnv(imageEnv: string[], flags: string[], hostEnv: NodeJS.ProcessEnv): string[] {
  const out = new Map<string, string>();
  for (const e of imageEnv) {
    const i = e.indexOf('=');
    out.set(i < 0 ? e : e.slice(0, i), e);
  }
  for (const f of flags) {
    const i = f.indexOf('=');
    if (i === 0 || f === '') throw new UsageError(`invalid environment variable "${f}"`);
    if (i > 0) out.set(f.slice(0, i), f);
    else if (hostEnv[f] !== undefined) out.set(f, `${f}=${hostEnv[f]}`);
  }
  return [...out.values()];
}

export const runCommand: Command = {
  name: 'run',
  summary: 'Run a command in an image from the local store',
  usage: '[OPTIONS] IMAGE [COMMAND...]',
  description:
    'Runs the image\'s entrypoint and command (COMMAND replaces the image\'s CMD) in a new container on a\n' +
    'throw-away overlay snapshot of the image, with its Env, WorkingDir and User, and exits with the\n' +
    'container\'s exit code. Nothing the container writes is kept (every run is --rm).\n\n' +
    'Example: tsbuild run --network none busybox sh -c "echo hello"',
  options: {
    rm: { type: 'boolean', description: 'Remove the container when it exits (always the case)' },
    env: { type: 'string', short: 'e', multiple: true, placeholder: 'K=V', description: 'Set an environment variable' },
    network: { type: 'string', placeholder: 'MODE', default: 'host', description: 'Network: host or none' },
    user: { type: 'string', short: 'u', placeholder: 'USER[:GROUP]', description: "Run as this user instead of the image's" },
    workdir: { type: 'string', short: 'w', placeholder: 'DIR', description: "Working directory instead of the image's" },
    runtime: { type: 'string', placeholder: 'NAME', default: 'runc', description: 'OCI runtime: runc or crun' },
  },
  args: { min: 1 },
  stopAtFirstPositional: true,
  async run(args, ctx) {
    const [ref, ...cmd] = args.positionals as [string, ...string[]];
    void bool(args.options, 'rm');
    const network = str(args.options, 'network') ?? 'host';
    if (network !== 'host' && network !== 'none') throw new UsageError(`invalid --network "${network}" (host or none)`);
    const runtime = str(args.options, 'runtime') ?? 'runc';
    if (runtime !== 'runc' && runtime !== 'crun') throw new UsageError(`invalid --runtime "${runtime}" (runc or crun)`);
    const workdir = str(args.options, 'workdir');
    if (workdir !== undefined && !workdir.startsWith('/')) throw new UsageError(`--workdir must be an absolute path: ${workdir}`);

    const store = await openStore(ctx.root);
    const image = await loadImage(store, ref);
    const hold = await store.hold([image.descriptor.digest]);
    try {
      const c = image.config.config ?? {};
      const argv = [...(c.Entrypoint ?? []), ...(cmd.length > 0 ? cmd : (c.Cmd ?? []))];
      if (argv.length === 0) throw new CliError(`no command specified: image ${ref} has no Entrypoint or Cmd`);
      const env = mergeEnv(c.Env ?? [], strs(args.options, 'env'), ctx.env);
      const workRoot = await prepareSnapshotRoots(store.root);
      const lowers: string[] = [];
      for (const layer of image.layers) lowers.push(await ensureUnpacked(store, layer));
      const snapshotter = await detectSnapshotter(workRoot, ctx.env);
      const snap = await snapshotter.prepare(lowers.reverse(), { label: 'run' });
      try {
        const res = await runContainer({
          runtime: runtime as RuntimeName,
          rootfs: snap.rootfs,
          args: argv,
          env,
          cwd: workdir ?? (c.WorkingDir || '/'),
          user: str(args.options, 'user') ?? c.User ?? '',
          network: network as NetworkMode,
          stdout: ctx.stdout,
          stderr: ctx.stderr,
          signal: ctx.signal,
        });
        if (res.aborted) throw new CliError('interrupted', undefined, 130);
        return res.exitCode;
      } finally {
        await snap.discard();
      }
    } finally {
      await hold.release();
    }
  },
};
