// The bundled registry against Debian's docker-registry (distribution 2.8), same machine, same run,
// same clients (undici uploads, curl downloads): upload and download of one large blob (1 GiB by default;
// TSBUILD_BENCH_BLOB_MIB overrides), manifest GETs under 64 concurrent connections (a fixed
// count), and each server's peak RSS (VmHWM). Both servers run as child processes on loopback.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pool, request } from 'undici';

const here = dirname(fileURLToPath(import.meta.url));
const serverModule = pathToFileURL(join(here, '..', '..', 'dist', 'registry-server', 'server.js')).href;
const MIB = 1 << 20;
const BLOB_MIB = Number(process.env.TSBUILD_BENCH_BLOB_MIB) || 1024;
const MANIFEST_REQUESTS = 5000;
const CONNECTIONS = 64;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(base, child) {
  for (let i = 0; i < 500; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const r = await request(`${base}/v2/`);
      await r.body.dump();
      if (r.statusCode === 200) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${base} never became ready`);
}

function peakRssMiB(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function startOurs(tmp) {
  const port = await freePort();
  const script = join(tmp, 'ours.mjs');
  writeFileSync(
    script,
    `import { startRegistry } from ${JSON.stringify(serverModule)};\nconst r = await startRegistry({ addr: '127.0.0.1:${port}', root: ${JSON.stringify(join(tmp, 'ours'))} });\nprocess.on('SIGTERM', () => r.close().then(() => process.exit(0)));\n`,
  );
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  await waitReady(base, child);
  return { name: 'tsbuild', base, child };
}

async function startDistribution(tmp) {
  const port = await freePort();
  const dir = join(tmp, 'distribution');
  mkdirSync(dir, { recursive: true });
  const config = join(tmp, 'distribution.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${dir}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/bin/docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  await waitReady(base, child);
  return { name: 'distribution', base, child };
}

/** The blob, generated on the fly from one random MiB (numbered per MiB): nothing big is held. */
function blobSource(block) {
  return function* () {
    for (let i = 0; i < BLOB_MIB; i++) {
      const c = Buffer.from(block);
      c.writeUInt32BE(i, 0);
      yield c;
    }
  };
}

function blobDigest(chunks) {
  const h = createHash('sha256');
  for (const c of chunks()) h.update(c);
  return `sha256:${h.digest('hex')}`;
}

async function ok(r, want, what) {
  if (r.statusCode !== want) throw new Error(`${what}: ${r.statusCode} ${await r.body.text()}`);
  await r.body.dump();
}

async function uploadBlob(base, repo, chunks, digest) {
  const start = await request(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await ok(start, 202, 'start upload');
  const loc = new URL(start.headers.location, base);
  loc.searchParams.set('digest', digest);
  const t = process.hrtime.bigint();
  const put = await request(loc, {
    method: 'PUT',
    body: chunks,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(BLOB_MIB * MIB) },
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  await ok(put, 201, 'finish upload');
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/**
 * Downloads with curl into /dev/null, in a process of its own: an in-process undici client spends
 * ~1.3 s of CPU per GiB on Node's per-read buffers and became the limit for both servers (~700
 * MB/s each). Falls back to undici where there is no curl.
 */
async function downloadBlob(base, repo, digest) {
  const url = `${base}/v2/${repo}/blobs/${digest}`;
  const t = process.hrtime.bigint();
  const got = await curlGet(url).catch((e) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
  let n = got;
  if (got === undefined) {
    const r = await request(url, { headersTimeout: 0, bodyTimeout: 0 });
    if (r.statusCode !== 200) throw new Error(`download: ${r.statusCode}`);
    n = 0;
    for await (const c of r.body) n += c.length;
  }
  if (n !== BLOB_MIB * MIB) throw new Error(`download: got ${n} bytes`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** Bytes curl received for a 200, or a rejection (ENOENT without curl). */
function curlGet(url) {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.on('error', reject);
    child.on('close', (code) => {
      const [status, size] = out.trim().split(' ');
      if (code !== 0 || status !== '200') reject(new Error(`download: curl exit ${code}, HTTP ${status}`));
      else resolve(Number(size));
    });
  });
}

async function pushSmallImage(base, repo) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const cd = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const s = await request(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await ok(s, 202, 'start');
  const loc = new URL(s.headers.location, base);
  loc.searchParams.set('digest', cd);
  await ok(await request(loc, { method: 'PUT', body: config, headers: { 'content-type': 'application/octet-stream' } }), 201, 'config');
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length },
    layers: [],
  });
  await ok(await request(`${base}/v2/${repo}/manifests/latest`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } }), 201, 'manifest');
}

async function manifestRps(base, repo, total = MANIFEST_REQUESTS) {
  const pool = new Pool(base, { connections: CONNECTIONS, pipelining: 1 });
  let next = 0;
  const worker = async () => {
    while (next++ < total) {
      const r = await pool.request({ path: `/v2/${repo}/manifests/latest`, method: 'GET', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      if (r.statusCode !== 200) throw new Error(`manifest GET: ${r.statusCode}`);
      await r.body.dump();
    }
  };
  const t = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  await pool.close();
  return total / s;
}

async function stop(server) {
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await exited;
}

export default async function (ctx) {
  const makeChunks = blobSource(randomBytes(MIB));
  const digest = blobDigest(makeChunks);
  ctx.log(`blob: ${BLOB_MIB} MiB ${digest.slice(0, 19)}...`);
  const figures = {};
  for (const startServer of [startOurs, startDistribution]) {
    const server = await startServer(ctx.tmp);
    try {
      const up = await uploadBlob(server.base, 'bench/big', makeChunks(), digest);
      const down = await downloadBlob(server.base, 'bench/big', digest);
      await pushSmallImage(server.base, 'bench/small');
      await manifestRps(server.base, 'bench/small', 500); // warm-up
      const rps = await manifestRps(server.base, 'bench/small');
      const rss = peakRssMiB(server.child.pid);
      figures[server.name] = { up: (BLOB_MIB * MIB) / up / 1e6, down: (BLOB_MIB * MIB) / down / 1e6, rps, rss };
      ctx.log(`${server.name}: upload ${figures[server.name].up.toFixed(0)} MB/s, download ${figures[server.name].down.toFixed(0)} MB/s, ${rps.toFixed(0)} manifest GET/s, peak RSS ${rss.toFixed(0)} MiB`);
    } finally {
      await stop(server);
    }
  }
  const ours = figures.tsbuild;
  const peer = figures.distribution;
  const size = BLOB_MIB >= 1024 ? `${BLOB_MIB / 1024} GiB` : `${BLOB_MIB} MiB`;
  return [
    { name: `registry blob upload (${size})`, value: ours.up, unit: 'MB/s', better: 'higher', peers: { distribution: peer.up } },
    { name: `registry blob download (${size})`, value: ours.down, unit: 'MB/s', better: 'higher', peers: { distribution: peer.down } },
    { name: `registry manifest GET, ${CONNECTIONS} connections`, value: ours.rps, unit: 'req/s', better: 'higher', peers: { distribution: peer.rps } },
    { name: `registry server peak RSS (${size} blob)`, value: ours.rss, unit: 'MiB', better: 'lower', peers: { distribution: peer.rss } },
  ];
}
