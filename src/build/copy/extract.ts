import { createWriteStream } from 'node:fs';
import { chmod, lchown, link, lutimes, mkdir, symlink, lstat } from 'node:fs/promises';
import { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { ChmodSpec } from './chmod.js';
import { applyChmod } from './chmod.js';
import type { RootWriter } from './fs-ops.js';
import type { Owner } from './owner.js';

/**
 * ADD of a local archive: its entries land under `destDir` (in-root path) with the archive's
 * modes, owners and times (owners replaced by --chown when given). Names are cleaned so nothing
 * lands outside `destDir`; links are resolved inside the root.
 */
export async function extractTar(stream: Readable, w: RootWriter, destDir: string, opts: { chown?: Owner; chmod?: ChmodSpec }): Promise<void> {
  const ex = tar.extract();
  const dirTimes: { host: string; mtime: Date }[] = [];
  const done = (async () => {
    for await (const entry of ex) {
      const h = entry.header;
      const clean = posix.normalize(`/${h.name}`).replace(/\/+$/, '');
      if (clean === '/' && h.type === 'directory') {
        entry.resume();
        continue;
      }
      const inRoot = posix.join(destDir, clean);
      await w.mkdirAll(posix.dirname(inRoot), 0o755, opts.chown ?? { uid: 0, gid: 0 });
      const host = await w.hostPath(inRoot);
      const owner = opts.chown ?? { uid: h.uid ?? 0, gid: h.gid ?? 0 };
      const baseMode = (h.mode ?? 0o644) & 0o7777;
      const mtime = h.mtime ?? new Date(0);
      switch (h.type) {
        case 'directory': {
          const st = await lstat(host).catch(() => undefined);
          if (st && !st.isDirectory()) await w.clear(host, false);
          if (!st?.isDirectory()) await mkdir(host);
          await lchown(host, owner.uid, owner.gid);
          await chmod(host, opts.chmod ? applyChmod(opts.chmod, baseMode, true) : baseMode);
          dirTimes.push({ host, mtime });
          entry.resume();
          break;
        }
        case 'file':
        case 'contiguous-file': {
          await w.clear(host, false);
          await pipeline(entry, createWriteStream(host, { mode: 0o600 }));
          await lchown(host, owner.uid, owner.gid);
          await chmod(host, opts.chmod ? applyChmod(opts.chmod, baseMode, false) : baseMode);
          await lutimes(host, mtime, mtime);
          break;
        }
        case 'symlink': {
          await w.clear(host, false);
          await symlink(h.linkname ?? '', host);
          await lchown(host, owner.uid, owner.gid);
          await lutimes(host, mtime, mtime);
          entry.resume();
          break;
        }
        case 'link': {
          await w.clear(host, false);
          const target = await w.hostPath(posix.join(destDir, posix.normalize(`/${h.linkname ?? ''}`)));
          await link(target, host);
          entry.resume();
          break;
        }
        default:
          // Devices and fifos in an ADDed archive are rare; they need mknod, which node lacks.
          entry.resume();
      }
    }
  })();
  await Promise.all([pipeline(stream, ex).catch((e: Error) => { throw new Error(`extracting archive: ${e.message}`); }), done]);
  for (const d of dirTimes.reverse()) await lutimes(d.host, d.mtime, d.mtime);
}
