// Local store and layer benchmark, each figure beside a peer measured in the same run:
//   layer creation (tree -> tar -> gzip -> store, one pass) vs `tar -c | gzip`, and uncompressed vs `tar -c`;
//   verified blob read (digest checked while streaming) vs `sha256sum` of the same file;
//   peak RSS of a child process writing, then reading (applying), a 1 GiB layer (sparse input file).
// Imports the BUILT code (npm run build).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', '..', 'dist', 'src');
const FILES = 48;
const FILE_SIZE = 2 * 1024 * 1024;

const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

function child(tmp, phase) {
  // A separate process so the RSS figure is the layer code's alone.
  const script = `
    import { openStore } from ${JSON.stringify(pathToFileURL(join(dist, 'store/store.js')).href)};
    import { writeLayer, storeLayer, applyLayer } from ${JSON.stringify(pathToFileURL(join(dist, 'image/layer/index.js')).href)};
    import { readFileSync, writeFileSync } from 'node:fs';
    const store = await openStore(${JSON.stringify(join(tmp, 'rss-store'))});
    if (${JSON.stringify(phase)} === 'write') {
      const l = await storeLayer(store, writeLayer(${JSON.stringify(join(tmp, 'big'))}), { compression: 'none' });
      writeFileSync(${JSON.stringify(join(tmp, 'big-digest'))}, l.descriptor.digest);
    } else {
      const d = readFileSync(${JSON.stringify(join(tmp, 'big-digest'))}, 'utf8');
      await applyLayer(store.blobs.open(d), ${JSON.stringify(join(tmp, 'big-applied'))});
    }
    process.stdout.write(String(process.resourceUsage().maxRSS));
  `;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rss child (${phase}) failed: ${r.stderr}`);
  return { rssMB: Number(r.stdout) / 1024, sec: seconds(t0) };
}

export default async function ({ tmp, log }) {
  const { openStore } = await import(pathToFileURL(join(dist, 'store/store.js')).href);
  const { writeLayer, storeLayer } = await import(pathToFileURL(join(dist, 'image/layer/index.js')).href);
  const results = [];

  const tree = join(tmp, 'tree');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  for (let i = 0; i < FILES; i++) writeFileSync(join(tree, i % 2 ? 'sub' : '', `f${i}`), randomBytes(FILE_SIZE));
  const mb = (FILES * FILE_SIZE) / 1e6;
  const store = await openStore(join(tmp, 'store'));

  let t0 = process.hrtime.bigint();
  await storeLayer(store, writeLayer(tree), { compression: 'gzip' });
  const oursGzip = mb / seconds(t0);
  t0 = process.hrtime.bigint();
  execFileSync('bash', ['-c', `tar -C ${tree} -cf - . | gzip -6 > ${join(tmp, 'peer.tar.gz')}`]);
  const peerGzip = mb / seconds(t0);
  log(`gzip layer: ours ${oursGzip.toFixed(1)} MB/s, tar|gzip ${peerGzip.toFixed(1)} MB/s`);
  results.push({ name: 'layer creation, gzip (96 MiB incompressible)', value: oursGzip, unit: 'MB/s', better: 'higher', peers: { 'tar | gzip': peerGzip } });

  t0 = process.hrtime.bigint();
  const plain = await storeLayer(store, writeLayer(tree), { compression: 'none' });
  const oursPlain = mb / seconds(t0);
  t0 = process.hrtime.bigint();
  execFileSync('bash', ['-c', `tar -C ${tree} -cf ${join(tmp, 'peer.tar')} . && sync -f ${join(tmp, 'peer.tar')}`]);
  const peerPlain = mb / seconds(t0);
  log(`uncompressed layer: ours ${oursPlain.toFixed(1)} MB/s, tar ${peerPlain.toFixed(1)} MB/s`);
  results.push({ name: 'layer creation, uncompressed, digested + fsynced', value: oursPlain, unit: 'MB/s', better: 'higher', peers: { 'tar -c + sync': peerPlain } });

  // Verified read: the blob store's streaming digest check against sha256sum on the same file.
  const size = plain.descriptor.size;
  t0 = process.hrtime.bigint();
  for await (const _ of store.blobs.open(plain.descriptor.digest));
  const oursRead = size / 1e6 / seconds(t0);
  t0 = process.hrtime.bigint();
  execFileSync('sha256sum', [store.blobs.path(plain.descriptor.digest)]);
  const peerRead = size / 1e6 / seconds(t0);
  log(`verified read: ours ${oursRead.toFixed(0)} MB/s, sha256sum ${peerRead.toFixed(0)} MB/s`);
  results.push({ name: 'digest while reading a blob (verified read)', value: oursRead, unit: 'MB/s', better: 'higher', peers: { sha256sum: peerRead } });

  // 1 GiB layer from a sparse file: cheap to make, the same bytes to stream.
  mkdirSync(join(tmp, 'big'));
  execFileSync('truncate', ['-s', '1G', join(tmp, 'big', 'sparse.bin')]);
  const w = child(tmp, 'write');
  log(`1 GiB layer write: peak RSS ${w.rssMB.toFixed(0)} MB, ${w.sec.toFixed(1)} s`);
  const r = child(tmp, 'read');
  log(`1 GiB layer apply: peak RSS ${r.rssMB.toFixed(0)} MB, ${r.sec.toFixed(1)} s`);
  results.push({ name: 'peak RSS writing a 1 GiB layer (limit 150)', value: w.rssMB, unit: 'MB', better: 'lower' });
  results.push({ name: 'peak RSS applying a 1 GiB layer (limit 150)', value: r.rssMB, unit: 'MB', better: 'lower' });
  if (w.rssMB > 150 || r.rssMB > 150) throw new Error(`peak RSS over 150 MB: write ${w.rssMB.toFixed(0)}, read ${r.rssMB.toFixed(0)}`);
  return results;
}
