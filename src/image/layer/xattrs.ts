import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { nativeSyscalls, type Syscalls } from '../../native/syscalls.js';
import { findTool, runTool } from './tools.js';

// Node has no xattr API. The native module reads them in-process, one entry at a time as the layer
// is written. Without it, `getfattr` (Debian's attr package) dumps a whole tree in one process; without
// that, GNU tar reads the xattrs of directories (enough for overlay's opaque markers) in one pass that
// reads no file content.

export type XattrMap = Map<string, Map<string, Buffer>>;

export interface XattrReader {
  /** Xattrs of the paths under `root` (relative, no leading `./`); directories only when `dirsOnly`. */
  dirsOnly: boolean;
  read(root: string, relPaths: { path: string; dir: boolean }[]): Promise<XattrMap>;
  /** When offered: one entry's xattrs, read as it is met (then `read` is not needed first). */
  readOne?(path: string): Map<string, Buffer> | undefined;
}

/** The best reader this machine offers, or undefined when it has neither getfattr nor GNU tar. */
export function xattrReader(): XattrReader | undefined {
  const native = nativeSyscalls();
  if (native) return { dirsOnly: false, read: async () => new Map(), readOne: (path) => readNative(native, path) };
  const getfattr = findTool('getfattr');
  if (getfattr) return { dirsOnly: false, read: (root, paths) => readWithGetfattr(getfattr, root, paths.map((p) => p.path)) };
  const gnuTar = findTool('tar');
  if (gnuTar) return { dirsOnly: true, read: (root, paths) => readWithTar(gnuTar, root, paths.filter((p) => p.dir).map((p) => p.path)) };
  return undefined;
}

function readNative(native: Syscalls, path: string): Map<string, Buffer> | undefined {
  const names = native.llistxattr(path);
  if (names.length === 0) return undefined;
  const out = new Map<string, Buffer>();
  for (const name of names) {
    const value = native.lgetxattr(path, name);
    if (value) out.set(name, value);
  }
  return out.size > 0 ? out : undefined;
}

async function readWithGetfattr(tool: string, root: string, paths: string[]): Promise<XattrMap> {
  const out: XattrMap = new Map();
  void paths; // the whole tree is dumped at once; entries not in the layer are never looked up
  // -R on the root dumps the tree in one process; -P: do not follow symlinks.
  const dump = await runTool(tool, ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root]).catch(() => Buffer.alloc(0));
  let current: string | undefined;
  const prefix = root.endsWith('/') ? root : `${root}/`;
  for (const line of dump.toString('utf8').split('\n')) {
    if (line.startsWith('# file: ')) {
      const p = unescapeOctal(line.slice(8));
      current = p.startsWith(prefix) ? p.slice(prefix.length) : undefined;
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    const bytes = value.startsWith('0x') ? Buffer.from(value.slice(2), 'hex') : value.startsWith('"') ? Buffer.from(value.slice(1, -1)) : Buffer.alloc(0);
    let m = out.get(current);
    if (!m) out.set(current, (m = new Map()));
    m.set(key, bytes);
  }
  return out;
}

function unescapeOctal(s: string): string {
  return Buffer.from(s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), 'latin1').toString('utf8');
}

async function readWithTar(tool: string, root: string, dirs: string[]): Promise<XattrMap> {
  const out: XattrMap = new Map();
  if (dirs.length === 0) return out;
  const list = dirs.map((d) => `./${d}`).join('\0');
  const archive = await runTool(tool, ['--xattrs', '--xattrs-include=*', '--no-recursion', '--null', '-C', root, '-cf', '-', '-T', '-'], list);
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const pax = (header as unknown as { pax?: Record<string, string> }).pax;
      if (pax) {
        const m = new Map<string, Buffer>();
        for (const [k, v] of Object.entries(pax)) if (k.startsWith('SCHILY.xattr.')) m.set(k.slice(13), Buffer.from(v, 'latin1'));
        if (m.size > 0) out.set(header.name.replace(/^\.\//, '').replace(/\/$/, ''), m);
      }
      stream.on('end', () => next());
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([archive]).pipe(extract);
  await done;
  return out;
}

/** Sets xattrs (natively, or with one `setfattr --restore` for all); returns how many could not be set. */
export async function writeXattrs(root: string, xattrs: XattrMap): Promise<number> {
  let count = 0;
  for (const m of xattrs.values()) count += m.size;
  if (count === 0) return 0;
  const native = nativeSyscalls();
  if (native) {
    let failed = 0;
    for (const [p, m] of xattrs) {
      for (const [k, v] of m) {
        try {
          native.lsetxattr(`${root.replace(/\/$/, '')}/${p}`, k, v);
        } catch {
          failed++;
        }
      }
    }
    return failed;
  }
  const setfattr = findTool('setfattr');
  if (!setfattr) return count;
  const lines: string[] = [];
  for (const [p, m] of xattrs) {
    lines.push(`# file: ${escapeOctal(`${root.replace(/\/$/, '')}/${p}`)}`);
    for (const [k, v] of m) lines.push(`${k}=0x${v.toString('hex')}`);
    lines.push('');
  }
  try {
    await runTool(setfattr, ['-h', '--restore=-'], lines.join('\n'));
    return 0;
  } catch {
    return count;
  }
}

function escapeOctal(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => (b <= 0x20 || b >= 0x7f || b === 0x5c ? `\\${b.toString(8).padStart(3, '0')}` : String.fromCharCode(b))).join('');
}
