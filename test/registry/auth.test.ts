import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry } from '../../registry-server/server.js';
import { main } from '../../src/cli/main.js';
import { parseChallenges } from '../../src/registry/auth/challenge.js';
import { fetchToken } from '../../src/registry/auth/token.js';
import { RegistryClient } from '../../src/registry/client.js';
import { copyImage, parseLocation } from '../../src/registry/copy.js';
import { DockerConfigCredentials } from '../../src/registry/credentials.js';
import { RegistryError } from '../../src/registry/errors.js';
import { Transport } from '../../src/registry/transport.js';
import { startFlakyProxy } from './flaky-proxy.js';
import { makeBusybox, tempDir } from './helpers.js';

function sink() {
  let text = '';
  const stream = new Writable({
    write(c, _e, cb) {
      text += String(c);
      cb();
    },
  });
  return { stream, get text() { return text; } };
}

async function cli(argv: string[], env: NodeJS.ProcessEnv, stdin = '') {
  const out = sink();
  const err = sink();
  const { Readable } = await import('node:stream');
  const code = await main(argv, { stdout: out.stream, stderr: err.stream, env, stdin: Readable.from([Buffer.from(stdin)]) });
  return { code, stdout: out.text, stderr: err.text };
}

describe('WWW-Authenticate parsing', () => {
  it('reads Bearer and Basic challenges with quoted, comma-laden values', () => {
    const c = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push", Basic realm="x \\"y\\""');
    expect(c).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull,push' } },
      { scheme: 'basic', params: { realm: 'x "y"' } },
    ]);
    expect(parseChallenges('Basic realm=registry')).toEqual([{ scheme: 'basic', params: { realm: 'registry' } }]);
    expect(parseChallenges(undefined)).toEqual([]);
  });
});

describe('login and the challenge flows against our registry server', () => {
  let work: string;
  let htpasswd: string;
  let layout: string;
  beforeAll(() => {
    work = tempDir('auth');
    htpasswd = `${work}/htpasswd`;
    writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', 'alice', 's3cret'], { encoding: 'utf8' }));
    layout = `${work}/layout`;
    makeBusybox(layout);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  for (const mode of ['basic', 'token'] as const) {
    it(`${mode}: refuses anonymous pushes, logs in with --password-stdin, then uses the stored credentials`, async () => {
      const reg = await startRegistry({ addr: '127.0.0.1:0', root: `${work}/reg-${mode}`, htpasswd, auth: mode });
      // A pass-through proxy only to count requests (token fetches in particular).
      const proxy = await startFlakyProxy(reg.url, () => ({ kind: 'forward' }));
      const configDir = `${work}/docker-${mode}`;
      const env = { HOME: work, DOCKER_CONFIG: configDir, PATH: process.env.PATH };
      try {
        const anon = new RegistryClient({ credentials: new DockerConfigCredentials({ env }) });
        const err = await copyImage(anon, parseLocation(`oci:${layout}`), parseLocation(`${proxy.host}/team/bb:v1`)).catch((e: unknown) => e);
        await anon.close();
        expect(err).toBeInstanceOf(RegistryError);
        expect((err as RegistryError).status).toBe(401);

        const bad = await cli(['login', '-u', 'alice', '--password-stdin', proxy.host], env, 'wrong\n');
        expect(bad.code).toBe(1);
        expect(bad.stderr).toMatch(/incorrect|authentication failed/);
        expect(bad.stderr).not.toContain('wrong');
        expect(() => statSync(`${configDir}/config.json`)).toThrow();

        const ok = await cli(['login', '-u', 'alice', '--password-stdin', proxy.host], env, 's3cret\n');
        expect(ok.stderr).toBe('');
        expect(ok.stdout).toBe('Login Succeeded\n');
        expect(ok.code).toBe(0);
        const file = `${configDir}/config.json`;
        expect(statSync(file).mode & 0o777).toBe(0o600);
        const stored = JSON.parse(readFileSync(file, 'utf8'));
        expect(Buffer.from(stored.auths[proxy.host].auth, 'base64').toString()).toBe('alice:s3cret');

        const before = proxy.seen.length;
        const client = new RegistryClient({ credentials: new DockerConfigCredentials({ env }) });
        const sent = await copyImage(client, parseLocation(`oci:${layout}`), parseLocation(`${proxy.host}/team/bb:v1`));
        const tags = await client.listTags({ registry: proxy.host, repository: 'team/bb' });
        await client.close();
        expect(tags).toEqual(['v1']);
        expect(sent.digest).toMatch(/^sha256:/);
        const tokenFetches = proxy.seen.slice(before).filter((s) => s.url.startsWith('/token'));
        // One token per scope set, cached: not one per request.
        if (mode === 'token') expect(tokenFetches.length).toBeGreaterThanOrEqual(1);
        if (mode === 'token') expect(tokenFetches.length).toBeLessThanOrEqual(2);
        if (mode === 'basic') expect(tokenFetches).toHaveLength(0);

        const out = await cli(['logout', proxy.host], env);
        expect(out.stdout).toContain('Removing login credentials');
        expect(JSON.parse(readFileSync(file, 'utf8')).auths[proxy.host]).toBeUndefined();
      } finally {
        await proxy.close();
        await reg.close();
      }
    });
  }

  it('uses a credential helper named in credHelpers (docker-credential-tsbuildtest on PATH)', async () => {
    const reg = await startRegistry({ addr: '127.0.0.1:0', root: `${work}/reg-helper`, htpasswd, auth: 'token' });
    const bin = `${work}/bin`;
    mkdirSync(bin, { recursive: true });
    const log = `${work}/helper.log`;
    // A tiny credential helper: logs the server it was asked about, answers with alice's creds.
    writeFileSync(
      `${bin}/docker-credential-tsbuildtest`,
      `#!/bin/sh\nread server\necho "$1 $server" >> ${log}\nif [ "$1" = get ]; then printf '{"ServerURL":"%s","Username":"alice","Secret":"s3cret"}' "$server"; fi\n`,
    );
    chmodSync(`${bin}/docker-credential-tsbuildtest`, 0o755);
    const configDir = `${work}/docker-helper`;
    mkdirSync(configDir, { recursive: true });
    writeFileSync(`${configDir}/config.json`, JSON.stringify({ auths: {}, credHelpers: { [reg.host]: 'tsbuildtest' } }));
    const env = { HOME: work, DOCKER_CONFIG: configDir, PATH: `${bin}:${process.env.PATH}` };
    const client = new RegistryClient({ credentials: new DockerConfigCredentials({ env }) });
    try {
      const sent = await copyImage(client, parseLocation(`oci:${layout}`), parseLocation(`${reg.host}/helper/bb:v1`));
      expect((await client.headManifest({ registry: reg.host, repository: 'helper/bb' }, 'v1'))?.digest).toBe(sent.digest);
      expect(readFileSync(log, 'utf8')).toContain(`get ${reg.host}`);
    } finally {
      await client.close();
      await reg.close();
    }
  });

  it('reads auths entries with base64 auth and identitytoken from config.json', async () => {
    const configDir = `${work}/docker-read`;
    mkdirSync(configDir, { recursive: true });
    writeFileSync(
      `${configDir}/config.json`,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('bob:hub-pass').toString('base64') },
          'http://reg.example:5000/v2/': { auth: '', identitytoken: 'refresh-123' },
        },
      }),
    );
    const creds = new DockerConfigCredentials({ env: { DOCKER_CONFIG: configDir } });
    expect(await creds.get('docker.io')).toEqual({ username: 'bob', password: 'hub-pass' });
    expect(await creds.get('reg.example:5000')).toEqual({ identityToken: 'refresh-123' });
    expect(await creds.get('other.example')).toBeUndefined();
  });
});

describe('token server protocol (a small token server written in this test with node:http)', () => {
  let server: Server;
  let realm: string;
  const requests: { method: string; url: string; body: string; auth?: string }[] = [];
  let issued = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        requests.push({ method: req.method!, url: req.url!, body, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
        const form = new URLSearchParams(body);
        if (req.method === 'POST' && form.get('refresh_token') !== 'good-refresh') {
          res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED","message":"bad token"}]}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `t${++issued}`, expires_in: 120 }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('GETs with basic credentials, POSTs an OAuth form for identity tokens, and never leaks secrets in errors', async () => {
    const t = new Transport({ retries: 0 });
    try {
      const a = await fetchToken(t, { registry: 'r', realm, service: 'svc', scopes: ['repository:x:pull', 'repository:y:pull'], credentials: { username: 'u', password: 'p' } });
      expect(a.token).toBe('t1');
      expect(a.expiresAt).toBeGreaterThan(Date.now() + 60_000);
      const get = requests.at(-1)!;
      expect(get.method).toBe('GET');
      expect(get.url).toContain('scope=repository%3Ax%3Apull&scope=repository%3Ay%3Apull');
      expect(get.auth).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);

      const b = await fetchToken(t, { registry: 'r', realm, service: 'svc', scopes: ['repository:x:push'], credentials: { identityToken: 'good-refresh' } });
      expect(b.token).toBe('t2');
      const post = new URLSearchParams(requests.at(-1)!.body);
      expect(post.get('grant_type')).toBe('refresh_token');
      expect(post.get('scope')).toBe('repository:x:push');

      const err = await fetchToken(t, { registry: 'r', realm, scopes: [], credentials: { identityToken: 'leaked-secret' } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as Error).message).not.toContain('leaked-secret');
    } finally {
      await t.close();
    }
  });

  it('caches a token per scope and fetches a new one when the registry refuses the cached one (expired)', async () => {
    // A registry stand-in that accepts only the newest token issued, like one whose tokens expire.
    const reg = createServer((req, res) => {
      if (req.headers.authorization === `Bearer t${issued}`) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="svc"`, 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}');
    });
    await new Promise<void>((r) => reg.listen(0, '127.0.0.1', () => r()));
    const host = `127.0.0.1:${(reg.address() as AddressInfo).port}`;
    const client = new RegistryClient({ transportOptions: { retries: 0 } });
    try {
      const before = requests.length;
      await client.ping(host);
      expect(requests.length - before).toBe(1);
      await client.ping(host);
      expect(requests.length - before).toBe(1); // cached
      issued++; // the registry now only accepts a token we do not have: ours "expired"
      await client.ping(host);
      expect(requests.length - before).toBe(2); // refused once, fetched anew, accepted
    } finally {
      await client.close();
      await new Promise<void>((r) => reg.close(() => r()));
    }
  });
});
