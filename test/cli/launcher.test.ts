import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deferForChild, deferredCaCertificates, restoreForChildren } from '../../src/net/deferred-ca.js';

const repo = join(import.meta.dirname, '..', '..');
const launcher = join(repo, 'bin', 'tsbuild');

describe('bin/tsbuild launcher', () => {
  it('starts Node without NODE_EXTRA_CA_CERTS, hands the path over, and passes the arguments', () => {
    // A stand-in `node` first on PATH shows what the launcher execs, and with which environment.
    const fake = mkdtempSync(join(tmpdir(), 'tsbuild-launcher-'));
    writeFileSync(join(fake, 'node'), '#!/bin/sh\necho "args=$*"\necho "extra=${NODE_EXTRA_CA_CERTS-unset}"\necho "deferred=${TSBUILD_DEFERRED_CA_CERTS-unset}"\n');
    chmodSync(join(fake, 'node'), 0o755);
    const env = { ...process.env, PATH: `${fake}:${process.env.PATH}` };
    const withCa = spawnSync(launcher, ['build', '-t', 'x y', '.'], { encoding: 'utf8', env: { ...env, NODE_EXTRA_CA_CERTS: '/certs/extra.pem' } });
    expect(withCa.status).toBe(0);
    expect(withCa.stdout).toContain(`args=${join(repo, 'bin', 'tsbuild.js')} build -t x y .`);
    expect(withCa.stdout).toContain('extra=unset');
    expect(withCa.stdout).toContain('deferred=/certs/extra.pem');
    const without = spawnSync(launcher, ['--version'], { encoding: 'utf8', env: { ...env, NODE_EXTRA_CA_CERTS: '' } });
    expect(without.stdout).toContain('deferred=unset');
  });
});

describe('the launcher\'s choice of the snapshot', () => {
  // A package of its own: the launcher, a stand-in snapshot, and a stand-in `node` that prints
  // what it was started with.
  function fixture() {
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-launcher-snap-'));
    for (const d of ['bin', 'dist/snapshot', 'fake', 'node_modules/.bin']) mkdirSync(join(dir, d), { recursive: true });
    copyFileSync(launcher, join(dir, 'bin', 'tsbuild'));
    chmodSync(join(dir, 'bin', 'tsbuild'), 0o755);
    symlinkSync('../../bin/tsbuild', join(dir, 'node_modules', '.bin', 'tsbuild'));
    const node = join(dir, 'fake', 'node');
    writeFileSync(node, '#!/bin/sh\necho "args=$*"\n');
    chmodSync(node, 0o755);
    utimesSync(node, new Date('2025-01-02T03:04:05Z'), new Date('2025-01-02T03:04:05Z'));
    const st = statSync(node);
    writeFileSync(join(dir, 'dist', 'snapshot', 'tsbuild.blob'), 'stand-in');
    writeFileSync(join(dir, 'dist', 'snapshot', 'node-id'), `${node} ${st.size}:${Math.floor(st.mtimeMs / 1000)}\n`);
    writeFileSync(join(dir, 'dist', 'snapshot', 'node-stamp'), '');
    utimesSync(join(dir, 'dist', 'snapshot', 'node-stamp'), st.atime, st.mtime);
    const run = (cmd: string) => spawnSync(cmd, ['--version'], { encoding: 'utf8', env: { ...process.env, PATH: `${join(dir, 'fake')}:${process.env.PATH}` } }).stdout;
    return { dir, node, run };
  }

  it('starts from the snapshot with the node that made it, also through an installed symlink', () => {
    const { dir, run } = fixture();
    expect(run(join(dir, 'bin', 'tsbuild'))).toContain(`--snapshot-blob ${join(dir, 'bin')}/../dist/snapshot/tsbuild.blob ${join(dir, 'bin')}/tsbuild.js --version`);
    expect(run(join(dir, 'node_modules', '.bin', 'tsbuild'))).toContain(`--snapshot-blob ${join(dir, 'bin')}/../dist/snapshot/tsbuild.blob`);
  });

  it('starts without it when node has changed since', () => {
    const { dir, node, run } = fixture();
    utimesSync(node, new Date('2026-01-02T03:04:05Z'), new Date('2026-01-02T03:04:05Z'));
    const out = run(join(dir, 'bin', 'tsbuild'));
    expect(out).toContain(`args=${join(dir, 'bin')}/tsbuild.js --version`);
    expect(out).not.toContain('--snapshot-blob');
  });
});

describe('the start-up snapshot', () => {
  const snapshot = join(repo, 'dist', 'snapshot');

  it('is built for this node binary and runs the CLI', () => {
    // `npm run build` makes it; missing, every command would start ~60 ms slower without a word.
    const [builtWith, id] = readFileSync(join(snapshot, 'node-id'), 'utf8').trim().split(' ');
    const node = statSync(process.execPath);
    expect(builtWith).toBe(realpathSync(process.execPath));
    expect(id).toBe(`${node.size}:${Math.floor(node.mtimeMs / 1000)}`);
    const r = spawnSync(process.execPath, ['--snapshot-blob', join(snapshot, 'tsbuild.blob'), join(repo, 'bin', 'tsbuild.js'), 'parse', '--help'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: tsbuild parse');
  });

  it('reports a bad command from the snapshot as one line and exit 2, like a normal start', () => {
    const r = spawnSync(process.execPath, ['--snapshot-blob', join(snapshot, 'tsbuild.blob'), join(repo, 'bin', 'tsbuild.js'), 'no-such-command'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('deferred CA certificates', () => {
  it('puts NODE_EXTRA_CA_CERTS back for children, without overriding one that is set', () => {
    const env: NodeJS.ProcessEnv = { TSBUILD_DEFERRED_CA_CERTS: '/x.pem' };
    restoreForChildren(env);
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/x.pem');
    const set: NodeJS.ProcessEnv = { TSBUILD_DEFERRED_CA_CERTS: '/x.pem', NODE_EXTRA_CA_CERTS: '/y.pem' };
    restoreForChildren(set);
    expect(set.NODE_EXTRA_CA_CERTS).toBe('/y.pem');
  });

  it('hands the bundle over deferred again to a child that is tsbuild itself', () => {
    const env: NodeJS.ProcessEnv = { TSBUILD_DEFERRED_CA_CERTS: '/x.pem', NODE_EXTRA_CA_CERTS: '/x.pem' };
    deferForChild(env);
    expect(env.NODE_EXTRA_CA_CERTS).toBeUndefined();
    expect(env.TSBUILD_DEFERRED_CA_CERTS).toBe('/x.pem');
    // A bundle the user set themselves, different from the deferred one, stays.
    const own: NodeJS.ProcessEnv = { TSBUILD_DEFERRED_CA_CERTS: '/x.pem', NODE_EXTRA_CA_CERTS: '/mine.pem' };
    deferForChild(own);
    expect(own.NODE_EXTRA_CA_CERTS).toBe('/mine.pem');
  });

  it('reads the handed-over bundle, and nothing when none was handed over or it is unreadable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-ca-'));
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    writeFileSync(join(dir, 'ca.pem'), pem);
    expect(deferredCaCertificates({ TSBUILD_DEFERRED_CA_CERTS: join(dir, 'ca.pem') })).toBe(pem);
    expect(deferredCaCertificates({})).toBeUndefined();
    expect(deferredCaCertificates({ TSBUILD_DEFERRED_CA_CERTS: join(dir, 'missing.pem') })).toBeUndefined();
  });
});
