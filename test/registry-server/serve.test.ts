import { request } from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { http, sha256, tempDir, testRegistry } from './helpers.js';

describe('tsbuild registry serve', () => {
  const dirs: Awaited<ReturnType<typeof tempDir>>[] = [];
  afterAll(async () => {
    for (const d of dirs) await d.cleanup();
  });

  it('logs "listening on", serves, logs JSON lines and stops on the signal', async () => {
    const d = await tempDir();
    dirs.push(d);
    let out = '';
    let err = '';
    const stdout = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
    const stderr = new Writable({ write: (c, _e, cb) => ((err += String(c)), cb()) });
    const abort = new AbortController();
    const done = main(['registry', 'serve', '--addr', '127.0.0.1:0', '--root', d.path], { stdout, stderr, signal: abort.signal, env: { HOME: '/nonexistent' } });
    for (let i = 0; i < 200 && !out.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 10));
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    expect(url).toBeTruthy();
    expect((await http('GET', `${url}/v2/`)).status).toBe(200);
    expect((await http('GET', `${url}/healthz`)).json()).toEqual({ status: 'ok' });
    abort.abort();
    expect(await done).toBe(0);
    const line = JSON.parse(err.trim().split('\n')[0]!);
    expect(line).toMatchObject({ method: 'GET', uri: '/v2/', status: 200 });
    expect(typeof line.ms).toBe('number');
  });

  it('rejects bad flags with exit 2', async () => {
    let err = '';
    const sink = new Writable({ write: (c, _e, cb) => ((err += String(c)), cb()) });
    expect(await main(['registry', 'serve', '--auth', 'magic'], { stdout: sink, stderr: sink, env: { HOME: '/nonexistent' } })).toBe(2);
    expect(await main(['registry', 'serve', '--tls-cert', 'x'], { stdout: sink, stderr: sink, env: { HOME: '/nonexistent' } })).toBe(2);
    expect(err).toContain('--tls-key');
  });

  it('graceful shutdown finishes an in-flight upload', async () => {
    const reg = await testRegistry();
    const data = Buffer.alloc(256 * 1024, 'g');
    const d = sha256(data);
    let closed = false;
    const response = new Promise<number>((resolve, reject) => {
      const r = request(`${reg.url}/v2/grace/app/blobs/uploads/?digest=${d}`, { method: 'POST', headers: { 'Content-Length': data.length }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      r.on('error', reject);
      r.write(data.subarray(0, 1000));
      // Start the shutdown while the body is still arriving, then finish sending it.
      setTimeout(() => {
        void reg.close().then(() => (closed = true));
        setTimeout(() => {
          expect(closed).toBe(false);
          r.end(data.subarray(1000));
        }, 100);
      }, 100);
    });
    expect(await response).toBe(201);
    await reg.close();
    expect(closed).toBe(true);
    // Restart on the same storage: the blob was committed.
    const again = await testRegistry({ root: reg.root });
    expect(sha256((await http('GET', `${again.url}/v2/grace/app/blobs/${d}`)).body)).toBe(d);
    await again.stop();
    await reg.stop();
  });
});
