import { describe, expect, it } from 'vitest';
import { createRuntimeSpec, DEFAULT_CAPABILITIES } from '../../src/build/runtime/spec.js';
import { resolveUserFrom, UserError } from '../../src/build/runtime/user.js';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nbroken line\n';
const GROUP = 'root:x:0:\napp:x:1000:\nwheel:x:10:app,other\naudio:x:29:app\n';

describe('USER resolution', () => {
  it('follows docker: names, numbers, groups, supplementary groups', () => {
    expect(resolveUserFrom('', PASSWD, GROUP)).toEqual({ uid: 0, gid: 0, additionalGids: [], home: '/root' });
    expect(resolveUserFrom('app', PASSWD, GROUP)).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/app' });
    expect(resolveUserFrom('1000', PASSWD, GROUP)).toMatchObject({ uid: 1000, gid: 1000, additionalGids: [10, 29] });
    expect(resolveUserFrom('4242', PASSWD, GROUP)).toEqual({ uid: 4242, gid: 0, additionalGids: [] });
    expect(resolveUserFrom('app:wheel', PASSWD, GROUP)).toMatchObject({ uid: 1000, gid: 10, additionalGids: [] });
    expect(resolveUserFrom('7:8', '', '')).toEqual({ uid: 7, gid: 8, additionalGids: [] });
    expect(() => resolveUserFrom('ghost', PASSWD, GROUP)).toThrow(new UserError('unable to find user ghost: no matching entries in passwd file'));
    expect(() => resolveUserFrom('app:ghosts', PASSWD, GROUP)).toThrow(/unable to find group ghosts/);
  });
});

describe('createRuntimeSpec', () => {
  const base = { args: ['sh'], env: ['A=1'], cwd: '/w', user: { uid: 1, gid: 2, additionalGids: [3] }, hostname: 'h', rootfs: '/r', nofileLimit: 20000 };

  it('isolates the network unless host, caps rlimits, and binds resolv.conf/hosts read-only', () => {
    const none = createRuntimeSpec({ ...base, network: 'none', resolvConfPath: '/b/resolv.conf', hostsPath: '/b/hosts' }) as any;
    expect(none.linux.namespaces.map((n: { type: string }) => n.type).sort()).toEqual(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect(none.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }]);
    expect(none.process.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1']);
    // The primary group leads the supplementary ones, once, as BuildKit sets them.
    expect(none.process.user).toEqual({ uid: 1, gid: 2, additionalGids: [2, 3] });
    expect((createRuntimeSpec({ ...base, network: 'host', user: { uid: 1, gid: 3, additionalGids: [2, 3] } }) as any).process.user.additionalGids).toEqual([3, 2]);
    expect((createRuntimeSpec({ ...base, network: 'host', user: { uid: 0, gid: 0, additionalGids: [] } }) as any).process.user.additionalGids).toEqual([0]);
    expect(none.process.capabilities.bounding).toEqual(DEFAULT_CAPABILITIES);
    expect(none.mounts.map((m: { destination: string }) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/etc/resolv.conf', '/etc/hosts']);
    expect(none.mounts.find((m: { destination: string }) => m.destination === '/sys').options).toContain('ro');
    expect(none.mounts.find((m: { destination: string }) => m.destination === '/etc/hosts').options).toContain('ro');
    const host = createRuntimeSpec({ ...base, network: 'host', nofileLimit: 4_000_000 }) as any;
    expect(host.linux.namespaces.map((n: { type: string }) => n.type)).not.toContain('network');
    expect(host.process.rlimits[0].hard).toBe(1048576);
    expect(host.linux.maskedPaths).toContain('/proc/kcore');
    expect(host.linux.readonlyPaths).toContain('/proc/sys');
  });
});
