// A small ustar + pax header encoder. tar-stream reads our layers; writing is done here because
// layers need exact control that its packer lacks: binary xattr values (security.capability),
// uids above 262143, and byte-identical output for identical trees.

export type TarType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

const TYPEFLAG: Record<TarType, number> = {
  file: 0x30,
  link: 0x31,
  symlink: 0x32,
  'character-device': 0x33,
  'block-device': 0x34,
  directory: 0x35,
  fifo: 0x36,
};

export interface TarHeader {
  /** Path inside the layer, no leading `./` or `/`; directories end with `/`. */
  name: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (integer: fractions are dropped for determinism). */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as SCHILY.xattr.<name> pax records. */
  xattrs?: Map<string, Buffer>;
}

export const BLOCK = 512;
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** Zero bytes that pad `size` up to a whole block. */
export function padding(size: number): Buffer {
  const r = size % BLOCK;
  return r === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - r);
}

function fitsOctal(value: number, width: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value < 8 ** (width - 1);
}

function writeOctal(buf: Buffer, value: number, offset: number, width: number): void {
  buf.write(value.toString(8).padStart(width - 1, '0'), offset, width - 1, 'ascii');
  buf[offset + width - 1] = 0;
}

function isAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

/** Splits a long ASCII path into ustar prefix/name, or undefined when it cannot be. */
function splitUstar(name: string): { prefix: string; name: string } | undefined {
  if (name.length <= 100) return { prefix: '', name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return { prefix, name: rest };
    if (name.length - i - 1 > 100) break;
  }
  return undefined;
}

function paxRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), typeof value === 'string' ? Buffer.from(value) : value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function ustarBlock(h: { name: string; prefix: string; mode: number; uid: number; gid: number; size: number; mtime: number; typeflag: number; linkname: string; devmajor: number; devminor: number }): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(h.name, 0, 100, 'utf8');
  writeOctal(b, h.mode & 0o7777, 100, 8);
  writeOctal(b, fitsOctal(h.uid, 8) ? h.uid : 0, 108, 8);
  writeOctal(b, fitsOctal(h.gid, 8) ? h.gid : 0, 116, 8);
  writeOctal(b, fitsOctal(h.size, 12) ? h.size : 0, 124, 12);
  writeOctal(b, fitsOctal(h.mtime, 12) ? h.mtime : 0, 136, 12);
  b.fill(0x20, 148, 156);
  b[156] = h.typeflag;
  b.write(h.linkname, 157, 100, 'utf8');
  b.write('ustar\x0000', 257, 8, 'binary');
  writeOctal(b, h.devmajor, 329, 8);
  writeOctal(b, h.devminor, 337, 8);
  b.write(h.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0'), 148, 6, 'ascii');
  b[154] = 0;
  b[155] = 0x20;
  return b;
}

/**
 * The header block(s) of one entry: a pax extended header first when anything does not fit
 * ustar (long or non-ASCII names, big ids or sizes, xattrs), then the ustar block.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const records: Buffer[] = [];
  const linkname = h.linkname ?? '';
  let split = isAscii(h.name) ? splitUstar(h.name) : undefined;
  if (!split) {
    records.push(paxRecord('path', h.name));
    split = { prefix: '', name: asciiStub(h.name, 100) };
  }
  let ustarLink = linkname;
  if (!isAscii(linkname) || Buffer.byteLength(linkname) > 100) {
    records.push(paxRecord('linkpath', linkname));
    ustarLink = asciiStub(linkname, 100);
  }
  if (!fitsOctal(h.uid, 8)) records.push(paxRecord('uid', String(h.uid)));
  if (!fitsOctal(h.gid, 8)) records.push(paxRecord('gid', String(h.gid)));
  if (!fitsOctal(h.size, 12)) records.push(paxRecord('size', String(h.size)));
  const mtime = Math.max(0, Math.floor(h.mtime));
  if (!fitsOctal(mtime, 12)) records.push(paxRecord('mtime', String(mtime)));
  if (h.xattrs) {
    for (const key of [...h.xattrs.keys()].sort()) records.push(paxRecord(`SCHILY.xattr.${key}`, h.xattrs.get(key)!));
  }
  const main = ustarBlock({
    ...split,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    size: h.size,
    mtime,
    typeflag: TYPEFLAG[h.type],
    linkname: ustarLink,
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (records.length === 0) return main;
  const pax = Buffer.concat(records);
  const paxName = `PaxHeaders/${asciiStub(h.name.replace(/\/$/, '').split('/').pop() ?? '', 80)}`;
  const paxHead = ustarBlock({ name: paxName, prefix: '', mode: 0o644, uid: 0, gid: 0, size: pax.length, mtime: fitsOctal(mtime, 12) ? mtime : 0, typeflag: 0x78, linkname: '', devmajor: 0, devminor: 0 });
  return Buffer.concat([paxHead, pax, padding(pax.length), main]);
}

/** A printable stand-in for a field whose real value is in a pax record. */
function asciiStub(s: string, max: number): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(-max);
}
