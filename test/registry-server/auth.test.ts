import { execFileSync } from 'node:child_process';
import { chmod, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Htpasswd } from '../../registry-server/htpasswd.js';
import { allows, parseScope, TokenIssuer } from '../../registry-server/token.js';
import { TOKEN_SECRET_FILE } from '../../registry-server/token-secret.js';
import { errorCode, http, pushBlob, pushImage, tempDir, type TestRegistry, testRegistry } from './helpers.js';

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('tokens and scopes', () => {
  it('parses scopes and checks grants', () => {
    const s = parseScope('repository:a/b:pull,push registry:catalog:*');
    expect(s).toEqual([
      { type: 'repository', name: 'a/b', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    expect(allows(s, [{ type: 'repository', name: 'a/b', actions: ['push'] }])).toBe(true);
    expect(allows(s, [{ type: 'repository', name: 'a/c', actions: ['pull'] }])).toBe(false);
    expect(allows(s, [{ type: 'repository', name: 'a/b', actions: ['delete'] }])).toBe(false);
  });

  it('verifies signature, audience and expiry', () => {
    const t = new TokenIssuer();
    const { token } = t.issue('bob', 'svc', []);
    expect(t.verify(token, 'svc')?.sub).toBe('bob');
    expect(t.verify(token, 'other')).toBeUndefined();
    expect(t.verify(`${token.slice(0, -2)}xx`, 'svc')).toBeUndefined();
    expect(new TokenIssuer().verify(token, 'svc')).toBeUndefined();
    expect(t.verify(token, 'svc', Math.floor(Date.now() / 1000) + 3600)).toBeUndefined();
  });

  it('reads bcrypt htpasswd files, $2y$ included', async () => {
    const line = execFileSync('htpasswd', ['-Bbn', 'u', 'pw'], { encoding: 'utf8' });
    expect(line).toMatch(/^u:\$2y\$/);
    const h = Htpasswd.parse(line);
    expect(await h.verify('u', 'pw')).toBe(true);
    expect(await h.verify('u', 'nope')).toBe(false);
    expect(await h.verify('x', 'pw')).toBe(false);
    expect(() => Htpasswd.parse('u:{SHA}abc')).toThrow(/bcrypt/);
  });
});

describe('auth modes over HTTP', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let htpasswd: string;
  const regs: TestRegistry[] = [];
  beforeAll(async () => {
    dir = await tempDir();
    htpasswd = join(dir.path, 'htpasswd');
    await writeFile(htpasswd, execFileSync('htpasswd', ['-Bbn', 'alice', 'pw'], { encoding: 'utf8' }));
  });
  afterAll(async () => {
    for (const r of regs) await r.stop();
    await dir?.cleanup();
  });
  const start = async (o: Parameters<typeof testRegistry>[0]) => {
    const r = await testRegistry(o);
    regs.push(r);
    return r;
  };

  it('basic: 401 with a Basic challenge, 200 with the right password', async () => {
    const reg = await start({ htpasswd });
    const anon = await http('GET', `${reg.url}/v2/`);
    expect(anon.status).toBe(401);
    expect(anon.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect(errorCode(anon)).toBe('UNAUTHORIZED');
    expect((await http('GET', `${reg.url}/v2/`, { headers: { Authorization: basic('alice', 'bad') } })).status).toBe(401);
    expect((await http('GET', `${reg.url}/v2/`, { headers: { Authorization: basic('alice', 'pw') } })).status).toBe(200);
    expect((await http('GET', `${reg.url}/v2/x/tags/list`)).status).toBe(401);
    expect((await http('GET', `${reg.url}/health`)).status).toBe(200);
  });

  it('token: challenge names realm, service and scope; tokens carry scopes', async () => {
    const reg = await start({ htpasswd, auth: 'token' });
    const anon = await http('POST', `${reg.url}/v2/team/app/blobs/uploads/`);
    expect(anon.status).toBe(401);
    const challenge = anon.headers['www-authenticate'] as string;
    expect(challenge).toBe(`Bearer realm="${reg.url}/token",service="tsbuild-registry",scope="repository:team/app:pull,push"`);
    // Wrong password: no token.
    const bad = await http('GET', `${reg.url}/token?service=tsbuild-registry&scope=repository:team/app:pull,push`, { headers: { Authorization: basic('alice', 'x') } });
    expect(bad.status).toBe(401);
    // Anonymous: a token, but with no access when users are configured.
    const anonTok = (await http('GET', `${reg.url}/token?service=tsbuild-registry&scope=repository:team/app:pull,push`)).json().token;
    const denied = await http('POST', `${reg.url}/v2/team/app/blobs/uploads/`, { headers: { Authorization: `Bearer ${anonTok}` } });
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toContain('error="insufficient_scope"');
    // Pull-only token cannot push; pull,push can.
    const pullTok = (await http('GET', `${reg.url}/token?service=tsbuild-registry&scope=repository:team/app:pull`, { headers: { Authorization: basic('alice', 'pw') } })).json().token;
    expect((await http('POST', `${reg.url}/v2/team/app/blobs/uploads/`, { headers: { Authorization: `Bearer ${pullTok}` } })).status).toBe(401);
    const tok = await http('GET', `${reg.url}/token?service=tsbuild-registry&scope=repository:team/app:pull,push`, { headers: { Authorization: basic('alice', 'pw') } });
    expect(tok.status).toBe(200);
    expect(tok.json().access_token).toBe(tok.json().token);
    const auth = { Authorization: `Bearer ${tok.json().token}` };
    expect((await http('POST', `${reg.url}/v2/team/app/blobs/uploads/`, { headers: auth })).status).toBe(202);
    // The scope is per repository.
    expect((await http('POST', `${reg.url}/v2/team/other/blobs/uploads/`, { headers: auth })).status).toBe(401);
    // The OAuth2 password grant works too.
    const form = await http('POST', `${reg.url}/token`, {
      body: 'grant_type=password&username=alice&password=pw&service=tsbuild-registry&scope=registry:catalog:*',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(200);
    expect((await http('GET', `${reg.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${form.json().token}` } })).status).toBe(200);
  });

  it('cross-repository mount needs pull on the source, else falls back to an upload', async () => {
    const reg = await start({ htpasswd, auth: 'token' });
    const token = async (scope: string) =>
      (await http('GET', `${reg.url}/token?service=tsbuild-registry&${scope}`, { headers: { Authorization: basic('alice', 'pw') } })).json().token as string;
    const t1 = await token('scope=repository:src/x:pull,push');
    const d = await (async () => {
      const data = 'secret layer';
      const { createHash } = await import('node:crypto');
      const dg = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      const r = await http('POST', `${reg.url}/v2/src/x/blobs/uploads/?digest=${dg}`, { body: data, headers: { Authorization: `Bearer ${t1}` } });
      expect(r.status).toBe(201);
      return dg;
    })();
    const onlyDst = await token('scope=repository:dst/y:pull,push');
    expect((await http('POST', `${reg.url}/v2/dst/y/blobs/uploads/?mount=${d}&from=src/x`, { headers: { Authorization: `Bearer ${onlyDst}` } })).status).toBe(202);
    const both = await token('scope=repository:dst/y:pull,push&scope=repository:src/x:pull');
    expect((await http('POST', `${reg.url}/v2/dst/y/blobs/uploads/?mount=${d}&from=src/x`, { headers: { Authorization: `Bearer ${both}` } })).status).toBe(201);
  });

  it('read-only: reads work, every write is 405 UNSUPPORTED', async () => {
    const rw = await start({});
    await pushImage(rw.url, 'ro/app', 'v1', 'ro');
    await rw.close();
    const ro = await start({ root: rw.root, readOnly: true });
    expect((await http('GET', `${ro.url}/v2/ro/app/manifests/v1`)).status).toBe(200);
    for (const [m, p] of [['POST', '/v2/ro/app/blobs/uploads/'], ['PUT', '/v2/ro/app/manifests/v2'], ['DELETE', '/v2/ro/app/manifests/v1']] as const) {
      const r = await http(m, ro.url + p, { body: '{}' });
      expect(r.status, `${m} ${p}`).toBe(405);
      expect(errorCode(r)).toBe('UNSUPPORTED');
    }
    await expect(pushBlob(ro.url, 'ro/app', 'x')).rejects.toThrow(/405/);
  });

  it('token: the signing key persists under the root (0600), so tokens survive a restart', async () => {
    const first = await start({ htpasswd, auth: 'token' });
    const tok = (await http('GET', `${first.url}/token?service=tsbuild-registry&scope=repository:keep/app:pull,push`, { headers: { Authorization: basic('alice', 'pw') } })).json().token as string;
    const auth = { Authorization: `Bearer ${tok}` };
    expect((await http('POST', `${first.url}/v2/keep/app/blobs/uploads/`, { headers: auth })).status).toBe(202);
    const keyFile = join(first.root, TOKEN_SECRET_FILE);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    await first.close();

    const second = await start({ root: first.root, htpasswd, auth: 'token' });
    const again = await http("POST", `${second.url}/v2/keep/app/blobs/uploads/`, { headers: auth });
    expect(again.status, again.text).toBe(202);
    // Another root has another key: the token means nothing there.
    const other = await start({ htpasswd, auth: 'token' });
    expect((await http('POST', `${other.url}/v2/keep/app/blobs/uploads/`, { headers: auth })).status).toBe(401);
    await second.close();

    // A key file that lost its mode is tightened; a damaged one stops the server with a clear message.
    await chmod(keyFile, 0o644);
    const third = await start({ root: first.root, htpasswd, auth: 'token' });
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect((await http('GET', `${third.url}/v2/keep/app/tags/list`, { headers: auth })).status).toBe(404);
    await third.close();
    await writeFile(keyFile, 'not hex');
    await expect(testRegistry({ root: first.root, htpasswd, auth: 'token' })).rejects.toThrow(/token secret .* is corrupt/);
  });
});
