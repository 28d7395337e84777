// Baseline for every throughput figure: how fast this machine hashes with node's sha256, against
// coreutils' sha256sum on the same 256 MiB file. Digesting is the floor of every blob transfer.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

const SIZE = 256 * 1024 * 1024;

export default async function ({ tmp, log }) {
  const file = join(tmp, 'blob');
  const chunk = randomBytes(16 * 1024 * 1024);
  writeFileSync(file, Buffer.alloc(0));
  for (let i = 0; i < SIZE / chunk.length; i++) writeFileSync(file, chunk, { flag: 'a' });

  const t0 = process.hrtime.bigint();
  const hash = createHash('sha256');
  for await (const c of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(c);
  const ours = hash.digest('hex');
  const nodeSec = Number(process.hrtime.bigint() - t0) / 1e9;

  const t1 = process.hrtime.bigint();
  const theirs = execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];
  const coreSec = Number(process.hrtime.bigint() - t1) / 1e9;
  if (ours !== theirs) throw new Error('sha256 mismatch between node and sha256sum');
  log(`node ${nodeSec.toFixed(3)} s, sha256sum ${coreSec.toFixed(3)} s`);
  const mb = SIZE / 1e6;
  return [{ name: 'sha256 of a 256 MiB file', value: mb / nodeSec, unit: 'MB/s', better: 'higher', peers: { sha256sum: mb / coreSec } }];
}
