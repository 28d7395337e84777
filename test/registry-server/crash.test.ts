// kill -9 during uploads: committed content survives intact, nothing half-written becomes visible,
// and an interrupted chunked upload resumes after the restart (its hash rebuilt from disk).
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildChildServer } from './child-server.js';
import { errorCode, http, pushImage, sha256, tempDir } from './helpers.js';

async function startChild(entry: string, root: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [entry, root], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, url };
}

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition never held');
}

async function fileSize(p: string): Promise<number> {
  try {
    return (await stat(p)).size;
  } catch {
    return -1;
  }
}

describe('server killed during uploads', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let entry: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    dir = await tempDir('tsbuild-registry-crash-');
    entry = await buildChildServer(join(dir.path, 'build'));
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await dir?.cleanup();
  });

  it('loses nothing committed and exposes nothing partial', async () => {
    const root = join(dir.path, 'storage');
    const first = await startChild(entry, root);
    children.push(first.child);
    const img = await pushImage(first.url, 'crash/app', 'v1', 'committed');

    // A chunked upload with one chunk stored, then a second chunk cut off by the kill.
    const p = await http('POST', `${first.url}/v2/crash/app/blobs/uploads/`);
    const loc = p.headers.location as string;
    const id = loc.split('/').pop()!;
    const chunk1 = Buffer.alloc(300_000, 'a');
    const chunk2 = Buffer.alloc(500_000, 'b');
    const whole = Buffer.concat([chunk1, chunk2]);
    expect((await http('PATCH', first.url + loc, { body: chunk1, headers: { 'Content-Range': `0-${chunk1.length - 1}` } })).status).toBe(202);
    const uploadFile = join(root, 'repositories', 'crash', 'app', '_uploads', id, 'data');

    // A monolithic upload in flight too.
    const mono = Buffer.alloc(400_000, 'm');
    const monoDigest = sha256(mono);
    const inflight: Promise<unknown>[] = [];
    const open = (method: string, path: string, headers: Record<string, string | number>, sent: Buffer) => {
      const r = request(`${first.url}${path}`, { method, headers, agent: false });
      r.on('error', () => undefined);
      inflight.push(new Promise((res) => r.on('close', res)));
      r.write(sent);
      return r;
    };
    open('PATCH', loc, { 'Content-Length': chunk2.length, 'Content-Range': `${chunk1.length}-${whole.length - 1}` }, chunk2.subarray(0, 200_000));
    open('POST', `/v2/crash/app/blobs/uploads/?digest=${monoDigest}`, { 'Content-Length': mono.length }, mono.subarray(0, 150_000));
    // Wait until the partial chunk has reached the disk, then kill -9.
    await waitFor(async () => (await fileSize(uploadFile)) > chunk1.length);
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    await Promise.all(inflight);

    const second = await startChild(entry, root);
    children.push(second.child);
    const base = second.url;
    // Committed: the image, byte for byte.
    const m = await http('GET', `${base}/v2/crash/app/manifests/v1`);
    expect(m.status).toBe(200);
    expect(sha256(m.body)).toBe(img.digest);
    for (const b of [img.config, ...img.layers]) {
      const r = await http('GET', `${base}/v2/crash/app/blobs/${sha256(b)}`);
      expect(r.text).toBe(b);
    }
    // Partial: invisible.
    const h = await http('HEAD', `${base}/v2/crash/app/blobs/${monoDigest}`);
    expect(h.status).toBe(404);
    expect((await http('HEAD', `${base}/v2/crash/app/blobs/${sha256(whole)}`)).status).toBe(404);
    // Every stored blob is whole: its bytes hash to its name.
    const blobsDir = join(root, 'blobs', 'sha256');
    for (const prefix of await readdir(blobsDir)) {
      for (const hex of await readdir(join(blobsDir, prefix))) {
        const data = await readFile(join(blobsDir, prefix, hex, 'data'));
        expect(createHash('sha256').update(data).digest('hex')).toBe(hex);
      }
    }
    // The chunked upload resumes from what reached the disk; the hash is rebuilt from the file.
    const st = await http('GET', base + loc);
    expect(st.status).toBe(204);
    const have = Number(String(st.headers.range).split('-')[1]) + 1;
    expect(have).toBeGreaterThanOrEqual(chunk1.length);
    expect(have).toBeLessThanOrEqual(chunk1.length + 200_000);
    const rest = whole.subarray(have);
    const fin = await http('PUT', `${base}${loc}?digest=${sha256(whole)}`, { body: rest, headers: { 'Content-Range': `${have}-${whole.length - 1}` } });
    expect(fin.status).toBe(201);
    expect(sha256((await http('GET', `${base}/v2/crash/app/blobs/${sha256(whole)}`)).body)).toBe(sha256(whole));
    // The monolithic upload's session is gone or unknown to clients; its digest was never stored.
    expect(errorCode(await http('GET', `${base}/v2/crash/app/blobs/${monoDigest}`))).toBe('BLOB_UNKNOWN');
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  });
});
