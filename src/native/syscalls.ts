import { loadNative } from './load.js';

/**
 * The native module (native/syscalls.c, built into dist/native/ by `npm run build`): system calls
 * Node lacks, made in-process. Every caller has a fallback that spawns a tool (mount, umount,
 * getfattr, perl) for machines where the module could not be compiled, or with TSBUILD_NO_NATIVE=1.
 * Calls are synchronous and take microseconds (an overlay mount a millisecond or two).
 */
export interface Syscalls {
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  /** umount2(2); `flags` e.g. MNT_DETACH. */
  umount(target: string, flags: number): void;
  /** The value, or null when the file has no such attribute (or the filesystem no xattrs). */
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** Removing an absent attribute is not an error. */
  lremovexattr(path: string, name: string): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** Sets atime and mtime to `seconds` + `nanoseconds`, not following a symlink. */
  lutimens(path: string, seconds: bigint, nanoseconds: number): void;
}

export const MNT_DETACH = 2;

/** The native module, or undefined when it is not built (or disabled); loaded once. */
export function nativeSyscalls(): Syscalls | undefined {
  return loadNative<Syscalls>('syscalls');
}
