import { readFile, writeFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { type Command, type CommandContext, type ParsedArgs, UsageError, bool, str, strs } from '../command.js';
import { CliError } from '../errors.js';

function keyValues(list: string[], flag: string, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq === 0) throw new UsageError(`invalid ${flag} ${JSON.stringify(kv)}: expected KEY=VALUE`);
    // `--build-arg NAME` takes the value from the environment, as docker does.
    if (eq < 0) {
      if (env[kv] !== undefined) out[kv] = env[kv]!;
      continue;
    }
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** `--output type=oci,dest=out.tar` (or a bare path, meaning type=local). */
export function parseOutput(spec: string): { type: 'oci' | 'docker' | 'local' | 'image' | 'registry'; dest?: string; name?: string } {
  if (!spec.includes('=')) return { type: 'local', dest: spec };
  const fields: Record<string, string> = {};
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid --output ${JSON.stringify(spec)}: expected type=...,dest=...`);
    fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const type = fields.type ?? 'local';
  if (!['oci', 'docker', 'local', 'image', 'registry', 'tar'].includes(type)) throw new UsageError(`unsupported --output type ${JSON.stringify(type)} (oci, docker, local, image, registry)`);
  if ((type === 'oci' || type === 'docker' || type === 'local' || type === 'tar') && !fields.dest) throw new UsageError(`--output type=${type} needs dest=PATH`);
  return { type: type === 'tar' ? 'local' : (type as 'oci'), ...(fields.dest ? { dest: fields.dest } : {}), ...(fields.name ? { name: fields.name } : {}) };
}

async function run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
  const o = args.options;
  const contextDir = resolve(args.positionals[0]!);
  const progressMode = str(o, 'progress') ?? 'auto';
  if (!['auto', 'plain', 'tty', 'json', 'quiet'].includes(progressMode)) throw new UsageError(`invalid --progress ${JSON.stringify(progressMode)}: auto, plain, tty or json`);
  const network = str(o, 'network') ?? 'host';
  if (network !== 'host' && network !== 'none' && network !== 'default') throw new UsageError(`invalid --network ${JSON.stringify(network)}: host or none`);
  const runtime = str(o, 'runtime') ?? 'runc';
  if (runtime !== 'runc' && runtime !== 'crun') throw new UsageError(`invalid --runtime ${JSON.stringify(runtime)}: runc or crun`);
  const outputs = strs(o, 'output').map(parseOutput);
  const tags = strs(o, 'tag');
  const push = bool(o, 'push') || outputs.some((x) => x.type === 'registry' || (x.type === 'image' && x.name && /push=true/.test(x.name)));
  if (push && tags.length === 0) throw new UsageError('--push needs a name: use -t NAME');
  const remoteCacheMod = o['cache-from'] || o['cache-to'] ? await import('../../build/remote-cache/index.js') : undefined;
  const cacheFrom = strs(o, 'cache-from').map((v) => remoteCacheMod!.parseCacheOption(v, 'from'));
  const cacheTo = strs(o, 'cache-to').map((v) => remoteCacheMod!.parseCacheOption(v, 'to'));

  // Imports are deferred so that `tsbuild build --help` and usage errors stay instant.
  const { hostPlatform, parsePlatform, formatPlatform, platformMatches } = await import('../../image/platform.js');
  let platform = hostPlatform();
  const wanted = str(o, 'platform');
  if (wanted) {
    for (const p of wanted.split(',')) {
      const parsed = parsePlatform(p.trim());
      if (!platformMatches(platform, parsed) || parsed.os !== platform.os) {
        throw new Error(`platform ${formatPlatform(parsed)} is not supported: tsbuild runs build steps natively and this host is ${formatPlatform(platform)}`);
      }
    }
    platform = { ...platform };
  }

  const dockerfileArg = str(o, 'file');
  let dockerfilePath: string | undefined;
  let text: string;
  if (dockerfileArg === '-') {
    const chunks: Buffer[] = [];
    for await (const c of ctx.stdin) chunks.push(Buffer.from(c as Buffer));
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    dockerfilePath = dockerfileArg ? resolve(dockerfileArg) : resolve(contextDir, 'Dockerfile');
    try {
      text = await readFile(dockerfilePath, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error(`failed to read Dockerfile: open ${dockerfileArg ?? (relative(process.cwd(), dockerfilePath) || 'Dockerfile')}: no such file or directory`);
      throw e;
    }
  }

  const [{ parse }, { planBuild }, { loadDockerignore, createIgnoreMatcher }, { openStore }, { executeBuild }, progressMod, { BuildError }, { checkDockerfile, formatFindings, violationMessage }] = await Promise.all([
    import('../../dockerfile/parser.js'),
    import('../../plan/planner.js'),
    import('../../dockerfile/dockerignore.js'),
    import('../../store/store.js'),
    import('../../build/executor.js'),
    import('../../build/progress/index.js'),
    import('../../build/errors.js'),
    import('../../check/check.js'),
  ]);
  const buildArgs = keyValues(strs(o, 'build-arg'), '--build-arg', ctx.env);
  const labels = keyValues(strs(o, 'label'), '--label', ctx.env);
  const df = parse(text, { file: dockerfileArg ?? 'Dockerfile' });
  const target = str(o, 'target');
  const check = bool(o, 'check');
  const ignoreFile = await loadDockerignore(contextDir, dockerfilePath ? relative(contextDir, dockerfilePath) : undefined);
  const store = await openStore(ctx.root);
  // Lint (BuildKit's checks): `--check` only reports; a build honours `# check=error=true` and warns otherwise.
  // With --check a Dockerfile that does not plan is reported by the lint, not thrown.
  let planned: import('../../plan/build-graph.js').BuildGraph | undefined;
  try {
    planned = planBuild(df, { buildArgs, ...(target ? { target } : {}), platform });
  } catch (e) {
    if (!check) throw e;
  }
  const lint = checkDockerfile(df, {
    buildArgs,
    ...(target ? { target } : {}),
    platform,
    text,
    dockerignore: ignoreFile.patterns,
    imageEnv: await baseImageEnvs(planned, store),
  });
  if (check) {
    ctx.stdout.write(formatFindings(lint));
    return lint.findings.length > 0 || lint.failure ? 1 : 0;
  }
  const violation = violationMessage(lint);
  if (violation) {
    ctx.stderr.write(formatFindings(lint));
    throw new CliError(violation);
  }
  const graph = planned!;

  const secrets = new Map<string, import('../../build/mounts/types.js').SecretSource>();
  const sshAgents = new Map<string, string>();
  if (o.secret || o.ssh) {
    const { parseSecretFlag, parseSshFlag, MountError } = await import('../../build/mounts/prepare.js');
    try {
      for (const v of strs(o, 'secret')) {
        const { id, source } = parseSecretFlag(v, ctx.env);
        secrets.set(id, source);
      }
      for (const v of strs(o, 'ssh')) {
        const { id, socket } = parseSshFlag(v, ctx.env);
        sshAgents.set(id, resolve(socket));
      }
    } catch (e) {
      if (e instanceof MountError) throw new UsageError(e.message);
      throw e;
    }
  }

  const matcher = ignoreFile.patterns.length > 0 ? createIgnoreMatcher(ignoreFile.patterns) : undefined;
  let cacheClient: import('../../registry/client.js').RegistryClient | undefined;
  if ([...cacheFrom, ...cacheTo].some((s) => s.type === 'registry')) {
    const [{ RegistryClient }, { DockerConfigCredentials }] = await Promise.all([import('../../registry/client.js'), import('../../registry/credentials.js')]);
    cacheClient = new RegistryClient({ credentials: new DockerConfigCredentials({ env: ctx.env }) });
  }
  const remoteCaches = await Promise.all(
    cacheFrom.map((spec) => remoteCacheMod!.openRemoteCache(spec, { ...(cacheClient ? { client: cacheClient } : {}), store, signal: ctx.signal, warn: (m) => ctx.stderr.write(`WARNING: ${m}\n`) })),
  );
  const epochText = ctx.env.SOURCE_DATE_EPOCH ?? buildArgs.SOURCE_DATE_EPOCH;
  let sourceDateEpoch: number | undefined;
  if (epochText !== undefined && epochText !== '') {
    if (!/^\d+$/.test(epochText)) throw new UsageError(`invalid SOURCE_DATE_EPOCH ${JSON.stringify(epochText)}: expected seconds since 1970`);
    sourceDateEpoch = Number(epochText);
  }

  const quiet = bool(o, 'quiet');
  const renderer = progressMod.createRenderer(quiet ? 'quiet' : (progressMode as 'auto'), ctx.stderr);
  const progress = new progressMod.Progress(renderer);
  // The planner's warnings that a lint finding already reports are said once, by the lint, at the end.
  const linted = new Set(lint.findings.map((f) => `${f.rule} ${f.line}`));
  for (const w of graph.warnings) if (!(w.rule && w.range && linted.has(`${w.rule} ${w.range.start.line}`))) ctx.stderr.write(`WARNING: ${w.message}${w.range ? ` (${df.file}:${w.range.start.line})` : ''}\n`);
  let ok = false;
  try {
    const result = await executeBuild({
      remoteCaches,
      store,
      graph,
      contextDir,
      ...(matcher ? { ignore: { ignores: (p: string) => matcher.ignores(p), canSkipDir: (p: string) => !matcher.mayMatchUnder(p) } } : {}),
      noCache: bool(o, 'no-cache'),
      noCacheFilter: strs(o, 'no-cache-filter'),
      pull: bool(o, 'pull'),
      labels,
      network: network === 'none' ? 'none' : 'host',
      runtime,
      ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
      secrets,
      sshAgents,
      hostEnv: ctx.env,
      progress,
      signal: ctx.signal,
      pullImage: async (ref, signal) => {
        const { pullImage } = await import('../../build/registry-bridge.js');
        await pullImage(store, ref, ctx.env, signal);
      },
    });
    const id = result.image.manifest.config.digest;
    const v = progress.vertex('exporting to image').start();
    v.log('stdout', `writing image ${id} done\n`);
    for (const t of tags) {
      const { normalizeName } = await import('../../store/names.js');
      const name = normalizeName(t);
      // Re-pointing a name at what it already names would only cost an fsync.
      if ((await store.images.get(name))?.target.digest !== result.image.descriptor.digest) await store.images.set(name, result.image.descriptor);
      v.log('stdout', `naming to ${name} done\n`);
    }
    v.done();
    for (const out of outputs) {
      if (out.type === 'image' || out.type === 'registry') continue;
      const vo = progress.vertex(`exporting to ${out.type} ${out.dest}`).start();
      const { exportImage } = await import('../../build/export.js');
      await exportImage(store, result.image, out as { type: 'oci' | 'docker' | 'local'; dest: string }, tags, ctx.signal);
      vo.done();
    }
    for (const spec of cacheTo) {
      const vc = progress.vertex(`exporting cache to ${remoteCacheMod!.describeCache(spec, 'to')}`).start();
      try {
        await remoteCacheMod!.exportCache(store, spec, result.cacheRecords.all, {
          ...(cacheClient ? { client: cacheClient } : {}),
          signal: ctx.signal,
          finalKeys: result.cacheRecords.finalKeys,
        });
        vc.done();
      } catch (e) {
        if (!spec.ignoreError || ctx.signal.aborted) {
          vc.error((e as Error).message);
          throw e;
        }
        vc.done();
        ctx.stderr.write(`WARNING: ${(e as Error).message}\n`);
      }
    }
    if (push) {
      const { pushImage } = await import('../../build/registry-bridge.js');
      for (const t of tags) {
        const vp = progress.vertex(`pushing ${t}`).start();
        const line = await pushImage(store, result.image.descriptor.digest, t, ctx.env, ctx.signal);
        vp.log('stdout', `${line}\n`);
        vp.done();
      }
    }
    const iidfile = str(o, 'iidfile');
    if (iidfile) await writeFile(iidfile, id);
    ok = true;
    progress.finish(true);
    if (quiet) ctx.stdout.write(`${id}\n`);
    return 0;
  } catch (e) {
    if (!ok) progress.finish(false);
    if (e instanceof BuildError && e.output.length > 0 && progressMode !== 'json') {
      ctx.stderr.write(`------\n${e.output.map((l) => ` > ${e.step}: ${l}`).join('\n')}\n------\n`);
    }
    // A failed RUN fails the build with status 1, as docker does, whatever the process's exit code.
    if (e instanceof BuildError) throw new CliError(e.message);
    throw e;
  } finally {
    await cacheClient?.close();
    // As BuildKit: lint warnings after the build's output, whether it succeeded or not.
    for (const f of lint.findings) ctx.stderr.write(`WARNING: ${f.rule}: ${f.message} (${f.file}:${f.line})\n`);
  }
}

/**
 * The config Env of each FROM image the local store already has (nothing is pulled for a lint):
 * with it the UndefinedVar rule also checks stages built on images.
 */
async function baseImageEnvs(graph: import('../../plan/build-graph.js').BuildGraph | undefined, store: import('../../store/store.js').Store): Promise<(ref: string) => readonly string[] | undefined> {
  const envs = new Map<string, string[]>();
  // A Dockerfile that does not plan is linted without image environments; the lint reports why.
  const { loadImage } = await import('../../image/image.js');
  for (const s of graph?.stages ?? []) {
    if (s.base.type !== 'image' || envs.has(s.base.ref)) continue;
    const img = await loadImage(store, s.base.ref, { platform: s.platform }).catch(() => undefined);
    if (img) envs.set(s.base.ref, img.config.config?.Env ?? []);
  }
  return (ref) => envs.get(ref);
}

export const buildCommand: Command = {
  name: 'build',
  summary: 'Build an image from a Dockerfile',
  usage: '[OPTIONS] CONTEXT',
  description: 'Builds CONTEXT with its Dockerfile into the local store. Also: tsbuild -t NAME CONTEXT.',
  options: {
    tag: { type: 'string', short: 't', multiple: true, placeholder: 'NAME', description: 'Name (and tag) the built image' },
    file: { type: 'string', short: 'f', placeholder: 'FILE', description: 'Dockerfile path (default: CONTEXT/Dockerfile; - reads stdin)' },
    'build-arg': { type: 'string', multiple: true, placeholder: 'K=V', description: 'Set a build argument' },
    target: { type: 'string', placeholder: 'STAGE', description: 'Build up to this stage' },
    'no-cache': { type: 'boolean', description: 'Run every step, ignoring the cache' },
    'no-cache-filter': { type: 'string', multiple: true, placeholder: 'STAGE', description: 'Ignore the cache for these stages' },
    pull: { type: 'boolean', description: 'Always pull base images' },
    label: { type: 'string', multiple: true, placeholder: 'K=V', description: 'Add a label to the image' },
    iidfile: { type: 'string', placeholder: 'FILE', description: 'Write the image ID to FILE' },
    platform: { type: 'string', placeholder: 'OS/ARCH', description: "Target platform (only the host's)" },
    progress: { type: 'string', placeholder: 'MODE', default: 'auto', description: 'Progress output: auto, plain, tty or json' },
    network: { type: 'string', placeholder: 'MODE', default: 'host', description: 'Network for RUN: host or none' },
    push: { type: 'boolean', description: 'Push the image to its registry after the build' },
    output: { type: 'string', short: 'o', multiple: true, placeholder: 'SPEC', description: 'Export: type=oci|docker|local,dest=PATH' },
    runtime: { type: 'string', placeholder: 'NAME', default: 'runc', description: 'OCI runtime: runc or crun' },
    'cache-from': { type: 'string', multiple: true, placeholder: 'SPEC', description: 'Use an external cache: type=registry,ref=NAME or type=local,src=DIR' },
    'cache-to': { type: 'string', multiple: true, placeholder: 'SPEC', description: 'Export the build cache: type=registry,ref=NAME[,mode=min|max] or type=local,dest=DIR' },
    quiet: { type: 'boolean', short: 'q', description: 'No progress; print the image ID' },
    secret: { type: 'string', multiple: true, placeholder: 'SPEC', description: 'Secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR' },
    ssh: { type: 'string', multiple: true, placeholder: 'SPEC', description: 'SSH agent for RUN --mount=type=ssh: default or ID=SOCKET' },
    check: { type: 'boolean', description: 'Run the Dockerfile checks and report findings, without building' },
  },
  args: { min: 1, max: 1 },
  run,
};
