import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { lutimes } from 'node:fs/promises';
import { arch } from 'node:os';
import { inUserNamespace } from '../../rootless/namespace.js';
import { nativeSyscalls, type Syscalls as NativeSyscalls } from '../../native/syscalls.js';

/**
 * The few filesystem calls Node lacks and overlay snapshots need: the opaque-directory xattr
 * (`trusted.overlay.opaque`) and whiteouts (0/0 character devices, i.e. mknod). The native module
 * makes them in-process; where it is not built, one short-lived perl process (perl-base is essential
 * in Debian, so always there) makes the raw syscalls for a whole batch of paths at once.
 */

/**
 * In a user namespace (rootless) trusted.* xattrs are the real root's only: overlayfs is mounted with
 * `userxattr` there and keeps its marks in user.overlay.* instead.
 */
export function opaqueXattr(): string {
  return inUserNamespace() ? 'user.overlay.opaque' : 'trusted.overlay.opaque';
}

type Op = 'get-opaque' | 'set-opaque' | 'remove-opaque' | 'mknod-whiteout' | 'set-times';

interface SyscallNumbers {
  lsetxattr: number;
  lgetxattr: number;
  lremovexattr: number;
  mknodat: number;
  utimensat: number;
}

const SYSCALLS: Record<string, SyscallNumbers> = {
  x64: { lsetxattr: 189, lgetxattr: 192, lremovexattr: 198, mknodat: 259, utimensat: 280 },
  // The generic syscall table (asm-generic/unistd.h), used by arm64 and riscv64.
  arm64: { lsetxattr: 6, lgetxattr: 9, lremovexattr: 15, mknodat: 33, utimensat: 88 },
  riscv64: { lsetxattr: 6, lgetxattr: 9, lremovexattr: 15, mknodat: 33, utimensat: 88 },
};

export class FsOpError extends Error {
  override name = 'FsOpError';
}

function script(s: SyscallNumbers): string {
  // Records on stdin: "op\0path\0arg\0". One result line per record: y / n / ok / E<errno>.
  return `
$/ = "\\0"; $| = 0;
my $name = "${opaqueXattr()}";
while (defined(my $op = <STDIN>)) {
  chomp $op; my $p = <STDIN>; chomp $p; my $a = <STDIN>; chomp $a;
  my $r;
  if ($op eq 'g') {
    my $buf = "\\0" x 8;
    $r = syscall(${s.lgetxattr}, $p, $name, $buf, 8);
    if ($r >= 0) { print((substr($buf, 0, $r) eq 'y' ? "y" : "n"), "\\n"); }
    elsif ($! + 0 == 61 || $! + 0 == 95) { print "n\\n"; }
    else { print "E", $! + 0, "\\n"; }
    next;
  } elsif ($op eq 's') { my $v = "y"; $r = syscall(${s.lsetxattr}, $p, $name, $v, 1, 0);
  } elsif ($op eq 'r') { $r = syscall(${s.lremovexattr}, $p, $name); $r = 0 if $r < 0 && $! + 0 == 61;
  } elsif ($op eq 'w') { $r = syscall(${s.mknodat}, -100, $p, 0020000, 0);
  } elsif ($op eq 't') { my ($sec, $nsec) = split / /, $a; my $ts = pack('q4', $sec, $nsec, $sec, $nsec);
    $r = syscall(${s.utimensat}, -100, $p, $ts, 0x100);
  } else { $r = -1; $! = 22; }
  print(($r >= 0 ? "ok" : "E" . ($! + 0)), "\\n");
}
`;
}

const CODES: Record<Op, string> = { 'get-opaque': 'g', 'set-opaque': 's', 'remove-opaque': 'r', 'mknod-whiteout': 'w', 'set-times': 't' };

/** Runs a batch of operations; results in order (`y`/`n` for get-opaque, `ok` otherwise). Throws on any failure. */
async function runOps(op: Op, paths: string[], args?: string[]): Promise<string[]> {
  if (paths.length === 0) return [];
  const native = nativeSyscalls();
  if (native) return paths.map((p, i) => nativeOp(native, op, p, args?.[i] ?? ''));
  const s = SYSCALLS[arch()];
  if (!s) throw new FsOpError(`overlay snapshots are not supported on ${arch()} (no syscall table)`);
  const child = spawn('perl', ['-e', script(s)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(new FsOpError(`cannot run perl for ${op}: ${e.message}`)));
    child.on('close', (code) => resolve(code ?? 1));
  });
  child.stdin.on('error', () => undefined);
  paths.forEach((p, i) => child.stdin.write(`${CODES[op]}\0${p}\0${args?.[i] ?? ''}\0`));
  child.stdin.end();
  const code = await done;
  const lines = out.split('\n').slice(0, paths.length);
  if (code !== 0 || lines.length !== paths.length) {
    throw new FsOpError(`${op} failed: ${err.trim().split('\n')[0] || `perl exited ${code}`}`);
  }
  lines.forEach((l, i) => {
    if (l.startsWith('E')) throw new FsOpError(`${op} ${paths[i]}: errno ${l.slice(1)}`);
  });
  return lines;
}

function nativeOp(native: NativeSyscalls, op: Op, path: string, arg: string): string {
  try {
    switch (op) {
      case 'get-opaque':
        return native.lgetxattr(path, opaqueXattr())?.toString() === 'y' ? 'y' : 'n';
      case 'set-opaque':
        native.lsetxattr(path, opaqueXattr(), Buffer.from('y'));
        break;
      case 'remove-opaque':
        native.lremovexattr(path, opaqueXattr());
        break;
      case 'mknod-whiteout':
        native.mknod(path, constants.S_IFCHR, 0, 0);
        break;
      case 'set-times': {
        const [sec, nsec] = arg.split(' ');
        native.lutimens(path, BigInt(sec!), Number(nsec));
        break;
      }
    }
    return 'ok';
  } catch (e) {
    throw new FsOpError(`${op} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Which of these directories carry the overlay opaque mark. */
export async function opaqueDirs(paths: string[]): Promise<Set<string>> {
  const res = await runOps('get-opaque', paths);
  return new Set(paths.filter((_, i) => res[i] === 'y'));
}

export async function setOpaque(paths: string[]): Promise<void> {
  await runOps('set-opaque', paths);
}

export async function removeOpaque(paths: string[]): Promise<void> {
  await runOps('remove-opaque', paths);
}

/** Creates overlay whiteouts (character devices 0/0) at these paths, which must not exist. */
export async function makeWhiteouts(paths: string[]): Promise<void> {
  await runOps('mknod-whiteout', paths);
}

/**
 * Sets atime and mtime (nanoseconds since the epoch) without following symlinks, exactly. Node's
 * lutimes takes seconds as a double, exact only for whole seconds: those (every time that came from
 * a tar header, so most of an image) are set in-process; any other goes through perl.
 */
export async function setTimes(entries: { path: string; mtimeNs: bigint }[]): Promise<void> {
  const fractional: { path: string; mtimeNs: bigint }[] = [];
  for (const e of entries) {
    // Node reads a negative time as "now": those go through perl too.
    if (e.mtimeNs % 1_000_000_000n !== 0n || e.mtimeNs < 0n) {
      fractional.push(e);
      continue;
    }
    const sec = Number(e.mtimeNs / 1_000_000_000n);
    try {
      await lutimes(e.path, sec, sec);
    } catch (err) {
      throw new FsOpError(`set-times ${e.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const args = fractional.map((e) => {
    const sec = e.mtimeNs / 1_000_000_000n;
    const nsec = e.mtimeNs % 1_000_000_000n;
    return `${sec} ${nsec}`;
  });
  await runOps('set-times', fractional.map((e) => e.path), args);
}
