import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { RegistryError } from '../../src/registry/errors.js';
import { isLoopbackHost, Transport } from '../../src/registry/transport.js';
import { tempDir } from './helpers.js';

describe('scheme choice', () => {
  it('uses plain HTTP for loopback and --insecure-registry hosts, TLS otherwise', () => {
    const t = new Transport({ insecureRegistries: ['reg.lan:5000', 'other.lan'] });
    expect(t.baseUrl('localhost:5000')).toBe('http://localhost:5000');
    expect(t.baseUrl('127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
    expect(t.baseUrl('127.8.9.10')).toBe('http://127.8.9.10');
    expect(t.baseUrl('[::1]:5000')).toBe('http://[::1]:5000');
    expect(t.baseUrl('reg.lan:5000')).toBe('http://reg.lan:5000');
    expect(t.baseUrl('other.lan:443')).toBe('http://other.lan:443');
    expect(t.baseUrl('registry-1.docker.io')).toBe('https://registry-1.docker.io');
    expect(t.baseUrl('128.0.0.1')).toBe('https://128.0.0.1');
    expect(isLoopbackHost('localhost.example.com')).toBe(false);
    void t.close();
  });
});

describe('TLS with a custom CA bundle', () => {
  const BIG = randomBytes(5 << 20);
  let dir: string;
  let server: Server;
  let port: number;
  beforeAll(async () => {
    dir = tempDir('tls');
    // A throwaway CA and a server certificate for "localhost.test" signed by it.
    const sh = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    sh(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=tsbuild test CA']);
    sh(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
    writeFileSync(`${dir}/ext.cnf`, 'subjectAltName=IP:127.0.0.1\n');
    sh(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf']);
    server = createServer({ key: readFileSync(`${dir}/srv.key`), cert: readFileSync(`${dir}/srv.pem`) }, (req, res) => {
      if (req.url === '/big') return void res.writeHead(200, { 'content-length': BIG.length }).end(BIG);
      res.writeHead(req.url === '/v2/' ? 200 : 404, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  // Loopback is plain HTTP for registries, so the TLS path is exercised on Transport.request with an https URL.
  it('trusts a registry signed by the given CA, and refuses it without', async () => {
    const withCa = new Transport({ caFile: `${dir}/ca.pem`, retries: 0 });
    const res = await withCa.request({ method: 'GET', url: `https://127.0.0.1:${port}/v2/` });
    expect(res.status).toBe(200);
    await res.body.dump();
    await withCa.close();

    const without = new Transport({ retries: 0 });
    const err = await without.request({ method: 'GET', url: `https://127.0.0.1:${port}/v2/` }).catch((e: unknown) => e);
    await without.close();
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as Error).message).toMatch(/TLS failure/);
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it('downloads a big body on a connection of its own over TLS, with the same trust', async () => {
    const withCa = new Transport({ caFile: `${dir}/ca.pem`, retries: 0 });
    const res = await withCa.request({ method: 'GET', url: `https://127.0.0.1:${port}/big`, expectBytes: BIG.length });
    expect(res.status).toBe(200);
    const got: Buffer[] = [];
    for await (const c of res.body) got.push(Buffer.from(c));
    expect(Buffer.concat(got).equals(BIG)).toBe(true);
    await withCa.close();

    const without = new Transport({ retries: 0 });
    const err = await without.request({ method: 'GET', url: `https://127.0.0.1:${port}/big`, expectBytes: BIG.length }).catch((e: unknown) => e);
    await without.close();
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as Error).message).toMatch(/TLS failure/);
  });

  it('trusts the NODE_EXTRA_CA_CERTS bundle the launcher deferred', async () => {
    process.env.TSBUILD_DEFERRED_CA_CERTS = `${dir}/ca.pem`;
    try {
      const t = new Transport({ retries: 0 });
      const res = await t.request({ method: 'GET', url: `https://127.0.0.1:${port}/v2/` });
      expect(res.status).toBe(200);
      await res.body.dump();
      await t.close();
    } finally {
      delete process.env.TSBUILD_DEFERRED_CA_CERTS;
    }
  });

  it('reports a refused connection as one clear line naming the registry', async () => {
    const client = new RegistryClient({ transportOptions: { retries: 1, backoffMs: 1 } });
    const err = await client.ping('127.0.0.1:1').catch((e: unknown) => e);
    await client.close();
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as Error).message).toBe('127.0.0.1:1: cannot connect (ECONNREFUSED)');
  });
});
