import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntimeSpec } from '../../src/build/runtime/spec.js';
import { checkRootlessPrerequisites, type HostPaths, inUserNamespace, RootlessError, runtimeGlobalArgs, subIdRanges } from '../../src/rootless/index.js';
import { needsRootless } from '../../src/rootless/reexec.js';

// The checks a non-root user meets before a rootless build, against fixture copies of
// /etc/subuid, /etc/subgid and /proc/sys, and a PATH holding only the tools a case should find.
let dir: string;
let paths: HostPaths;
let toolsPath: string;
const user = { name: 'alice', uid: 1234, gid: 1234 };

async function setSysctl(name: string, value: string | undefined): Promise<void> {
  const p = join(paths.procSys, name);
  if (value === undefined) await rm(p, { force: true });
  else {
    await mkdir(join(p, '..'), { recursive: true });
    await writeFile(p, `${value}\n`);
  }
}

function failure(env: NodeJS.ProcessEnv = { PATH: toolsPath }): RootlessError {
  try {
    checkRootlessPrerequisites(user, env, paths);
  } catch (e) {
    expect(e).toBeInstanceOf(RootlessError);
    return e as RootlessError;
  }
  throw new Error('expected the prerequisites check to fail');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsbuild-rootless-prereq-'));
  paths = { subuid: join(dir, 'subuid'), subgid: join(dir, 'subgid'), procSys: join(dir, 'sys') };
  toolsPath = join(dir, 'bin');
  await mkdir(toolsPath);
  for (const t of ['newuidmap', 'newgidmap', 'unshare']) await symlink(`/usr/bin/${t}`, join(toolsPath, t));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('subIdRanges', () => {
  it('finds the ranges of a user by name or uid, in file order, ignoring others and junk', () => {
    const text = '# comment\nbob:100000:65536\nalice:165536:65536\n1234:300000:1000\nalice:bad:1\nalice:400000:0\n';
    expect(subIdRanges(text, 'alice', 1234)).toEqual([
      { start: 165536, count: 65536 },
      { start: 300000, count: 1000 },
    ]);
    expect(subIdRanges(text, 'carol', 99)).toEqual([]);
  });
});

describe('checkRootlessPrerequisites', () => {
  it('passes with user namespaces allowed, the uidmap tools and subordinate ranges', async () => {
    await setSysctl('user/max_user_namespaces', '15000');
    await writeFile(paths.subuid, 'alice:100000:65536\n');
    await writeFile(paths.subgid, 'alice:200000:65536\n');
    const plan = checkRootlessPrerequisites(user, { PATH: toolsPath }, paths);
    expect(plan.uidRange).toEqual({ start: 100000, count: 65536 });
    expect(plan.gidRange).toEqual({ start: 200000, count: 65536 });
    expect(plan.newuidmap).toBe(join(toolsPath, 'newuidmap'));
  });

  it('names the sysctl when user namespaces are off', async () => {
    await setSysctl('user/max_user_namespaces', '0');
    expect(failure().message).toBe('rootless: user namespaces are disabled (sysctl user.max_user_namespaces = 0)');
    await setSysctl('user/max_user_namespaces', '15000');
    await setSysctl('kernel/unprivileged_userns_clone', '0');
    const e = failure();
    expect(e.message).toBe('rootless: unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone = 0)');
    expect(e.hint).toBe('as root: sysctl -w kernel.unprivileged_userns_clone=1');
    await setSysctl('kernel/unprivileged_userns_clone', '1');
    await setSysctl('kernel/apparmor_restrict_unprivileged_userns', '1');
    expect(failure().message).toMatch(/^rootless: AppArmor restricts unprivileged user namespaces/);
    await setSysctl('kernel/apparmor_restrict_unprivileged_userns', undefined);
    await setSysctl('kernel/unprivileged_userns_clone', undefined);
  });

  it('names the uidmap package when newuidmap is missing', async () => {
    const bare = join(dir, 'bare');
    await mkdir(bare, { recursive: true });
    const e = failure({ PATH: bare });
    expect(e.message).toBe('rootless: newuidmap not found (Debian package uidmap)');
    expect(e.hint).toBe('as root: apt-get install uidmap');
  });

  it('names the file and the user when a subordinate range is missing', async () => {
    await writeFile(paths.subuid, 'bob:100000:65536\n');
    await writeFile(paths.subgid, 'alice:200000:65536\n');
    expect(failure().message).toBe(`rootless: no subordinate uid range for user alice (uid 1234) in ${paths.subuid}`);
    await writeFile(paths.subuid, 'alice:100000:65536\n');
    await rm(paths.subgid);
    expect(failure().message).toBe(`rootless: no subordinate gid range for user alice (uid 1234) in ${paths.subgid}`);
  });
});

describe('rootless runtime settings', () => {
  it('tells the initial user namespace from another by its uid map', () => {
    expect(inUserNamespace('         0          0 4294967295\n')).toBe(false);
    expect(inUserNamespace('         0       1001          1\n         1     100000      65535\n')).toBe(true);
  });

  it('re-executes only build, run and prune, only for non-root, and never twice', () => {
    const nonRoot = process.geteuid?.() !== 0;
    expect(needsRootless('build', {})).toBe(nonRoot);
    expect(needsRootless('images', {})).toBe(false);
    expect(needsRootless('build', { TSBUILD_ROOTLESS: '1' })).toBe(false);
  });

  it('gives runc a private state dir and a spec without what a user namespace cannot do', () => {
    expect(runtimeGlobalArgs({ TSBUILD_RUNTIME_ROOT: '/tmp/x/runc' })).toEqual(['--root', '/tmp/x/runc']);
    expect(runtimeGlobalArgs({})).toEqual([]);
    const base = { args: ['true'], env: [], cwd: '/', user: { uid: 0, gid: 0 }, hostname: 'h', rootfs: '/r', nofileLimit: 1024 };
    const sys = (s: Record<string, unknown>) => (s.mounts as { destination: string; type: string }[]).find((m) => m.destination === '/sys')!.type;
    const hostNet = createRuntimeSpec({ ...base, network: 'host', rootless: true });
    expect(sys(hostNet)).toBe('bind');
    expect((hostNet.linux as Record<string, unknown>).resources).toBeUndefined();
    // In its own network namespace (owned by the user namespace) a real sysfs can be mounted.
    expect(sys(createRuntimeSpec({ ...base, network: 'none', rootless: true }))).toBe('sysfs');
    const rootful = createRuntimeSpec({ ...base, network: 'host' });
    expect(sys(rootful)).toBe('sysfs');
    expect((rootful.linux as Record<string, unknown>).resources).toEqual({ devices: [{ allow: false, access: 'rwm' }] });
  });
});
