/** `--chmod`: octal (`0755`, at most 07777) or symbolic as chmod(1) (`u+x,go=rX`). */
export type ChmodSpec = { octal: number } | { symbolic: string };

export class ChmodError extends Error {
  override name = 'ChmodError';
}

const CLAUSE = /^([ugoa]*)((?:[-+=](?:[rwxXst]*|[ugo]))+)$/;

export function parseChmod(value: string): ChmodSpec {
  if (/^[0-9]+$/.test(value)) {
    const n = /^[0-7]+$/.test(value) ? parseInt(value, 8) : NaN;
    if (!(n >= 0 && n <= 0o7777)) throw new ChmodError(`invalid chmod parameter: '${value}'. it should be octal string and between 0 and 07777`);
    return { octal: n };
  }
  for (const clause of value.split(',')) {
    if (!CLAUSE.test(clause)) throw new ChmodError(`invalid chmod parameter: '${value}'`);
  }
  return { symbolic: value };
}

/** The mode a file gets (permission bits and setuid/setgid/sticky); `isDir` matters for `X`. */
export function applyChmod(spec: ChmodSpec, mode: number, isDir: boolean): number {
  if ('octal' in spec) return spec.octal;
  let m = mode & 0o7777;
  for (const clause of spec.symbolic.split(',')) {
    const [, whoRaw, ops] = CLAUSE.exec(clause)!;
    const who = whoRaw === '' || whoRaw!.includes('a') ? 'ugo' : whoRaw!;
    const re = /([-+=])([rwxXst]*|[ugo])/g;
    let op: RegExpExecArray | null;
    while ((op = re.exec(ops!))) {
      const [, sign, perms] = op;
      let bits = 0;
      if (perms === 'u' || perms === 'g' || perms === 'o') {
        const shift = perms === 'u' ? 6 : perms === 'g' ? 3 : 0;
        const src = (m >> shift) & 7;
        for (const w of who) bits |= src << (w === 'u' ? 6 : w === 'g' ? 3 : 0);
      } else {
        for (const w of who) {
          const shift = w === 'u' ? 6 : w === 'g' ? 3 : 0;
          let b = 0;
          if (perms!.includes('r')) b |= 4;
          if (perms!.includes('w')) b |= 2;
          if (perms!.includes('x') || (perms!.includes('X') && (isDir || (m & 0o111) !== 0))) b |= 1;
          bits |= b << shift;
          if (perms!.includes('s') && w === 'u') bits |= 0o4000;
          if (perms!.includes('s') && w === 'g') bits |= 0o2000;
        }
        if (perms!.includes('t')) bits |= 0o1000;
      }
      if (sign === '+') m |= bits;
      else if (sign === '-') m &= ~bits;
      else {
        let mask = 0;
        for (const w of who) mask |= w === 'u' ? 0o4700 : w === 'g' ? 0o2070 : 0o1007;
        m = (m & ~mask) | bits;
      }
    }
  }
  return m;
}
