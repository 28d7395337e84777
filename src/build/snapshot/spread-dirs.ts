import { runTool } from './run-tool.js';

/**
 * Marks `dir` as the top of a directory hierarchy (ext4's FS_TOPDIR_FL, `chattr +T`), so that
 * each directory made in it (a step's upper dir) starts in a block group of its own choosing,
 * as top-level directories do, instead of in its parent's group.
 *
 * Why: ext4 without a journal will not reuse an inode deleted in the last minute or more, and
 * walks past every such inode when it allocates one. In a group where thousands of files were
 * just deleted (the previous build's working dirs, a removed store, another builder's
 * containers), creating a file then costs 0.3-0.6 ms instead of 20 µs: measured here, 200 small
 * files of a COPY went from ~160 ms to ~20 ms. Best effort: other filesystems refuse the flag
 * (or lack `chattr`), which changes nothing.
 */
export async function spreadSubdirs(dir: string): Promise<void> {
  await runTool('chattr', ['+T', dir]).catch(() => undefined);
}
