// Remote build cache: the `sample` and `multistage` contexts of /work/shared/bench/make-contexts.sh,
// built cold on machine A (base image present, empty cache), the cache exported to a loopback
// docker-registry (mode=max), then built on machine B, an EMPTY store with only the base image,
// through that registry cache: layers are pulled instead of steps run. Each phase is a whole
// process (node start-up included), as buildah's are.
//
// Until `tsbuild build --cache-to/--cache-from` is wired into the CLI, each phase runs a small
// driver (node -e) over the built library: executeBuild, exportCache, openRemoteCache + lookup of
// every key (what the executor's per-step lookup will do). Peer: buildah 1.28 with
// `bud --layers --cache-to REPO` then, on fresh storage, `bud --layers --cache-from REPO`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startDistribution, timed } from '../lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const dist = (p) => pathToFileURL(join(repo, 'dist', p)).href;

// One phase of one machine: `prepare` (pull the base), `build`, `export REF`, `import REF`
// (open the cache and look up every key), then `build` again.
const DRIVER = `
const [phase, root, context, base, ref] = process.argv.slice(1);
const { openStore, BUILD_CACHE_NAMESPACE } = await import(${JSON.stringify(dist('src/store/store.js'))});
const store = await openStore(root);
const { RegistryClient } = await import(${JSON.stringify(dist('src/registry/client.js'))});
const client = new RegistryClient();
try {
  if (phase === 'prepare') {
    const { pullImage } = await import(${JSON.stringify(dist('src/build/registry-bridge.js'))});
    await pullImage(store, base, process.env);
  }
  if (phase === 'export') {
    const { exportCache, parseCacheOption } = await import(${JSON.stringify(dist('src/build/remote-cache/index.js'))});
    const records = [];
    for await (const e of store.kv(BUILD_CACHE_NAMESPACE).entries()) if (/^sha256:[a-f0-9]{64}$/.test(e.key)) records.push([e.key, e.value]);
    const r = await exportCache(store, parseCacheOption('type=registry,mode=max,ref=' + ref, 'to'), records, { client });
    process.stdout.write(JSON.stringify({ records: r.records, layers: r.layers.length }));
  }
  if (phase === 'import') {
    const { openRemoteCache, parseCacheOption } = await import(${JSON.stringify(dist('src/build/remote-cache/index.js'))});
    const remote = await openRemoteCache(parseCacheOption(ref, 'from'), { client, store, warn: (m) => process.stderr.write(m + '\\n') });
    await Promise.all(remote.keys().map((k) => remote.lookup(k)));
  }
  if (phase === 'build' || phase === 'import') {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import(${JSON.stringify(dist('src/dockerfile/parser.js'))});
    const { planBuild } = await import(${JSON.stringify(dist('src/plan/planner.js'))});
    const { executeBuild } = await import(${JSON.stringify(dist('src/build/executor.js'))});
    const { Progress, MemoryRenderer } = await import(${JSON.stringify(dist('src/build/progress/index.js'))});
    const graph = planBuild(parse(readFileSync(context + '/Dockerfile', 'utf8'), { file: 'Dockerfile' }));
    const r = await executeBuild({ store, graph, contextDir: context, progress: new Progress(new MemoryRenderer()) });
    process.stdout.write(JSON.stringify({ executed: r.executed, cached: r.cached, digest: r.image.descriptor.digest }));
  }
} finally {
  await client.close();
}
`;

export default async function (ctx) {
  if (!existsSync(join(repo, 'dist', 'src', 'build', 'remote-cache', 'index.js'))) throw new Error('run npm run build first');
  const reg = await startDistribution(join(ctx.tmp, 'registry'));
  const host = reg.host;
  try {
    const base = `${host}/library/busybox:latest`;
    execFileSync(join(repo, 'testdata/make-busybox-image.sh'), [join(ctx.tmp, 'bb')], { stdio: 'ignore' });
    execFileSync('skopeo', ['copy', '--dest-tls-verify=false', `oci:${join(ctx.tmp, 'bb')}:latest`, `docker://${base}`], { stdio: 'ignore' });
    const contexts = join(ctx.tmp, 'contexts');
    execFileSync('/work/shared/bench/make-contexts.sh', [contexts, base], { stdio: 'ignore' });

    const results = [];
    for (const name of ['sample', 'multistage']) {
      const dir = join(contexts, name);
      const ref = `${host}/cache/${name}:ts`;
      const phase = (p, root) => timed(process.execPath, ['--input-type=module', '-e', DRIVER, p, root, dir, base, ref]);
      const a = join(ctx.tmp, `ts-a-${name}`);
      const b = join(ctx.tmp, `ts-b-${name}`);
      phase('prepare', a);
      phase('prepare', b);
      const cold = phase('build', a);
      const exp = phase('export', a);
      const warm = phase('import', b);
      const coldRes = JSON.parse(cold.out);
      const warmRes = JSON.parse(warm.out);
      if (warmRes.executed !== 0) throw new Error(`${name}: the warm build ran ${warmRes.executed} steps`);
      if (warmRes.digest !== coldRes.digest) throw new Error(`${name}: warm image ${warmRes.digest} differs from cold ${coldRes.digest}`);
      ctx.log(`${name}: cold ${cold.s.toFixed(2)} s (${coldRes.executed} steps run), export ${exp.s.toFixed(2)} s ${exp.out}, warm from registry ${warm.s.toFixed(2)} s (0 run)`);

      // buildah: cold with --cache-to (its export is part of the build), warm on fresh storage.
      let bCold, bWarm;
      const roots = [];
      try {
        const bh = (broot, args) => timed('buildah', ['--root', join(broot, 'root'), '--runroot', join(broot, 'run'), '--storage-driver', 'overlay', ...args], { env: { ...process.env, BUILDAH_ISOLATION: 'chroot' } });
        const cacheRepo = `${host}/bhcache/${name}`;
        const bud = (extra) => ['bud', '--isolation', 'chroot', '--network', 'host', '--layers', '--tls-verify=false', ...extra, '-t', `bench-${name}`, dir];
        const ba = join(ctx.tmp, `bh-a-${name}`);
        const bb = join(ctx.tmp, `bh-b-${name}`);
        roots.push(ba, bb);
        bh(ba, ['pull', '--tls-verify=false', base]);
        bh(bb, ['pull', '--tls-verify=false', base]);
        bCold = bh(ba, bud(['--cache-to', cacheRepo])).s;
        bWarm = bh(bb, bud(['--cache-from', cacheRepo])).s;
      } catch (e) {
        ctx.log(`buildah failed: ${e.message.split('\n')[0]}`);
      } finally {
        for (const broot of roots) {
          spawnSync('buildah', ['--root', join(broot, 'root'), '--runroot', join(broot, 'run'), '--storage-driver', 'overlay', 'rm', '--all'], { stdio: 'ignore' });
          spawnSync('umount', ['-R', join(broot, 'root', 'overlay')], { stdio: 'ignore' });
        }
      }
      ctx.log(`${name}: buildah cold+cache-to ${bCold?.toFixed(2)} s, warm cache-from ${bWarm?.toFixed(2)} s`);
      const peer = (v) => (v === undefined ? {} : { buildah: v });
      results.push(
        { name: `${name} cold build (base present, empty cache)`, value: cold.s, unit: 's', better: 'lower' },
        { name: `${name} cold build + cache export to registry (mode=max)`, value: cold.s + exp.s, unit: 's', better: 'lower', peers: peer(bCold) },
        { name: `${name} warm build from registry cache on an empty store`, value: warm.s, unit: 's', better: 'lower', peers: peer(bWarm) },
        { name: `${name} warm-from-registry vs cold (speed-up)`, value: cold.s / warm.s, unit: 'x', better: 'higher' },
      );
    }
    return results;
  } finally {
    await reg.close();
  }
}
