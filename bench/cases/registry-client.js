// Registry client benchmark: push and pull of a multi-layer image (4 incompressible layers,
// 1 GiB in all by default; TSBUILD_BENCH_REGISTRY_MB to change) to Debian's docker-registry
// (distribution) and to our own registry server, side by side with `skopeo copy` doing the same
// in the same run. Both clients run as separate processes, from the same OCI layout on disk:
//   push: tsbuild copy oci:L:bench HOST/push/x:1   vs  skopeo copy oci:L:bench docker://HOST/...
//   pull: tsbuild pull HOST/push/x:1 (into a fresh store) vs skopeo copy docker://... oci:DIR
// Each pusher gets a fresh registry, so nothing is skipped as already present. Figures: MB/s
// (bytes of blobs / wall time, process start-up included) and the client's peak RSS, each the
// median of TSBUILD_BENCH_REGISTRY_REPS rounds (3); every timed run starts after `sync` on a quiet
// disk, and the two clients take turns going first.
// makeLayout, run, startDistribution and startOurs are exported for ad-hoc profiling scripts.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { constants, crc32, deflateRawSync } from 'node:zlib';
import { median, startDistribution } from '../lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
// The installed command (the launcher npm links as `tsbuild`), so start-up is what users get.
const cli = join(repo, 'bin', 'tsbuild');
const LAYERS = 4;

/**
 * A gzip member of stored (level 0) deflate blocks around random bytes: valid gzip that neither
 * client can shrink or would want to re-compress, made at memory speed. Streamed to disk.
 */
function writeLayer(file, bytes) {
  const fd = openSync(file, 'w');
  const sha = createHash('sha256');
  const w = (b) => {
    sha.update(b);
    writeSync(fd, b);
  };
  w(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]));
  const chunk = Buffer.allocUnsafe(8 << 20);
  let crc = 0;
  let left = bytes;
  while (left > 0) {
    const n = Math.min(left, chunk.length);
    const part = chunk.subarray(0, n);
    randomFillSync(part);
    left -= n;
    crc = crc32(part, crc);
    w(deflateRawSync(part, { level: 0, finishFlush: left > 0 ? constants.Z_FULL_FLUSH : constants.Z_FINISH }));
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(bytes % 2 ** 32, 4);
  w(trailer);
  closeSync(fd);
  return `sha256:${sha.digest('hex')}`;
}

export function makeLayout(dir, totalBytes, log) {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const layers = [];
  const per = Math.floor(totalBytes / LAYERS);
  for (let i = 0; i < LAYERS; i++) {
    const tmp = join(dir, `layer${i}.tmp`);
    const digest = writeLayer(tmp, per);
    const final = join(blobs, digest.slice(7));
    renameSync(tmp, final);
    const size = statSync(final).size;
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size });
    log(`layer ${i + 1}/${LAYERS}: ${(size / 1e6).toFixed(0)} MB`);
  }
  const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, config: {} }));
  writeFileSync(join(blobs, sha(config).slice(7)), config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers }));
  writeFileSync(join(blobs, sha(manifest).slice(7)), manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }));
  return layers.reduce((n, l) => n + l.size, 0) + config.length;
}

/** Runs a process, returns wall seconds and its peak RSS (VmHWM sampled from /proc). */
export function run(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let peak = 0;
    let stderr = '';
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) * 1024);
      } catch {}
    };
    const timer = setInterval(sample, 20);
    child.stderr.on('data', (b) => (stderr = (stderr + b).slice(-4000)));
    child.on('exit', () => sample());
    child.on('close', (code) => {
      clearInterval(timer);
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${stderr}`));
      else resolve({ s, peak });
    });
  });
}

export { startDistribution };

export async function startOurs(root) {
  const { startRegistry } = await import(pathToFileURL(join(repo, 'dist', 'registry-server', 'server.js')).href);
  return startRegistry({ addr: '127.0.0.1:0', root });
}

/** Sum of the busy milliseconds of every block device (io_ticks in /proc/diskstats). */
function diskBusyMs() {
  return readFileSync('/proc/diskstats', 'utf8')
    .split('\n')
    .reduce((n, line) => n + (Number(line.trim().split(/\s+/)[12]) || 0), 0);
}

/**
 * Flushes what the previous steps left dirty and waits (a few seconds at most) for the disk to go
 * quiet (deleting a GiB keeps it busy with discards for a while), so that every timed run starts
 * from the same state instead of paying for the one before it.
 */
async function settle() {
  spawnSync('sync');
  for (let i = 0; i < 20; i++) {
    const before = diskBusyMs();
    await new Promise((r) => setTimeout(r, 250));
    if (diskBusyMs() - before < 25) return;
  }
}

export default async function (ctx) {
  if (!existsSync(join(repo, 'dist'))) throw new Error('run npm run build first');
  const mb = Number(process.env.TSBUILD_BENCH_REGISTRY_MB || 1024);
  const reps = Number(process.env.TSBUILD_BENCH_REGISTRY_REPS || 3);
  const layout = join(ctx.tmp, 'layout');
  const bytes = makeLayout(layout, mb * 1024 * 1024, ctx.log);
  const MB = bytes / 1e6;
  const results = [];
  const targets = [
    ['distribution', startDistribution],
    ['tsbuild-registry', startOurs],
  ];
  for (const [label, start] of targets) {
    const runs = { push: [], spush: [], pull: [], spull: [] };
    for (let rep = 0; rep < reps; rep++) {
      const dir = join(ctx.tmp, `${label}-${rep}`);
      const regT = await start(join(dir, 't'));
      const regS = await start(join(dir, 's'));
      try {
        const pushes = [
          ['push', () => run(cli, ['copy', `oci:${layout}:bench`, `${regT.host}/bench/img:1`])],
          ['spush', () => run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${regS.host}/bench/img:1`])],
        ];
        const pulls = [
          ['pull', () => run(cli, ['--root', join(dir, 'store'), 'pull', `${regT.host}/bench/img:1`])],
          ['spull', () => run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${regT.host}/bench/img:1`, `oci:${join(dir, 'skopeo-oci')}:bench`])],
        ];
        // Who goes first alternates, so that whatever drifts on the machine is shared.
        for (const [key, timed] of [...(rep % 2 ? pushes.reverse() : pushes), ...(rep % 2 ? pulls.reverse() : pulls)]) {
          await settle();
          runs[key].push(await timed());
        }
      } finally {
        await regT.close();
        await regS.close();
        rmSync(dir, { recursive: true, force: true });
      }
      const rate = (key) => (MB / runs[key][rep].s).toFixed(0);
      ctx.log(`${label} #${rep + 1}: push ${rate('push')} MB/s (skopeo ${rate('spush')}), pull ${rate('pull')} MB/s (skopeo ${rate('spull')})`);
    }
    const rate = (key) => median(runs[key].map((r) => MB / r.s));
    const peak = (key) => median(runs[key].map((r) => r.peak / 1e6));
    results.push(
      { name: `push ${mb} MiB/${LAYERS} layers to ${label}`, value: rate('push'), unit: 'MB/s', better: 'higher', peers: { skopeo: rate('spush') } },
      { name: `pull ${mb} MiB/${LAYERS} layers from ${label}`, value: rate('pull'), unit: 'MB/s', better: 'higher', peers: { skopeo: rate('spull') } },
      { name: `push peak RSS (${label})`, value: peak('push'), unit: 'MB', better: 'lower', peers: { skopeo: peak('spush') } },
      { name: `pull peak RSS (${label})`, value: peak('pull'), unit: 'MB', better: 'lower', peers: { skopeo: peak('spull') } },
    );
  }
  return results;
}
