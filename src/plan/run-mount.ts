/** `RUN --mount=type=...,target=...` specs, with BuildKit's defaults and checks. */
import type { FromRef, RunMount } from './build-graph.js';
import { FlagError, parseGoBool, splitCsv } from './flags.js';

const TYPES = new Set(['bind', 'cache', 'tmpfs', 'secret', 'ssh']);
const SHARING = new Set(['shared', 'private', 'locked']);

/**
 * The raw `from=` of a mount spec, read before any expansion (the graph's edges must not depend on
 * variables). Docker refuses variables there: a `$` anywhere but at the end is an error.
 */
export function mountFromRaw(spec: string): string | undefined {
  let from: string | undefined;
  for (const field of splitCsv(spec)) {
    const eq = field.indexOf('=');
    if (eq < 0) continue;
    if (field.slice(0, eq).toLowerCase() !== 'from') continue;
    const value = field.slice(eq + 1);
    const dollar = value.indexOf('$');
    if (dollar >= 0 && dollar !== value.length - 1) {
      throw new FlagError("'from' doesn't support variable expansion, define alias stage instead");
    }
    from = value;
  }
  return from;
}

/**
 * Parses one mount spec, expanding each value with `expand`. `resolveFrom` maps the raw `from` value to
 * a stage or image (decided by the planner).
 */
export function parseRunMount(spec: string, expand: (word: string) => string, resolveFrom: (raw: string) => FromRef): RunMount {
  const m: Partial<RunMount> & { type: RunMount['type'] } = { type: 'bind', required: false };
  let readonlyGiven: boolean | undefined;
  for (const field of splitCsv(spec)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === 'readonly' || key === 'ro') readonlyGiven = true;
      else if (key === 'readwrite' || key === 'rw') readonlyGiven = false;
      else if (key === 'required') {
        if (m.type !== 'secret' && m.type !== 'ssh') throw new FlagError(`unexpected key '${key}' for mount type '${m.type}'`);
        m.required = true;
      } else throw new FlagError(`invalid field '${field}' must be a key=value pair`);
      continue;
    }
    const raw = field.slice(eq + 1);
    const value = key === 'from' ? raw : expand(raw);
    const bool = () => {
      const b = parseGoBool(value);
      if (b === undefined) throw new FlagError(`invalid value for ${key}: ${value}`);
      return b;
    };
    const uint = (radix: number, what: string) => {
      const ok = radix === 8 ? /^[0-7]+$/.test(value) : /^\d+$/.test(value);
      const n = ok ? Number.parseInt(value, radix) : NaN;
      if (!Number.isFinite(n) || n > 0xffffffff) throw new FlagError(`invalid value ${value} for ${what}`);
      return n;
    };
    switch (key) {
      case 'type': {
        const t = value.toLowerCase();
        if (!TYPES.has(t)) throw new FlagError(`unsupported mount type ${JSON.stringify(value)}`);
        m.type = t as RunMount['type'];
        break;
      }
      case 'from':
        m.from = resolveFrom(value);
        break;
      case 'source':
      case 'src':
        m.source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = value;
        break;
      case 'readonly':
      case 'ro':
        readonlyGiven = bool();
        break;
      case 'readwrite':
      case 'rw':
        readonlyGiven = !bool();
        break;
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') throw new FlagError(`unexpected key '${key}' for mount type '${m.type}'`);
        m.required = bool();
        break;
      case 'size':
        if (m.type !== 'tmpfs') throw new FlagError(`unexpected key '${key}' for mount type '${m.type}'`);
        m.size = parseRamBytes(value);
        break;
      case 'id':
        m.id = value;
        break;
      case 'sharing': {
        const s = value.toLowerCase();
        if (!SHARING.has(s)) throw new FlagError(`unsupported sharing value ${JSON.stringify(value)}`);
        m.sharing = s as RunMount['sharing'];
        break;
      }
      case 'mode':
        m.mode = uint(8, 'mode');
        break;
      case 'uid':
        m.uid = uint(10, 'uid');
        break;
      case 'gid':
        m.gid = uint(10, 'gid');
        break;
      case 'env':
        m.env = value;
        break;
      default:
        throw new FlagError(`unexpected key '${key}' in '${field}'`);
    }
  }
  const fileInfoAllowed = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  if (!fileInfoAllowed) {
    for (const k of ['mode', 'uid', 'gid'] as const) {
      if (m[k] !== undefined) throw new FlagError(`${k} not allowed for ${JSON.stringify(m.type)} type mounts`);
    }
  }
  m.readonly = readonlyGiven ?? !(m.type === 'cache' || m.type === 'tmpfs');
  if (m.type === 'secret') {
    if (m.from) throw new FlagError('secret mount should not have a from');
    if (m.sharing) throw new FlagError('secret mount should not define sharing');
    if (!m.source && !m.target && !m.id) throw new FlagError('invalid secret mount. one of source, target required');
    if (m.source && m.id) throw new FlagError("both source and id can't be set");
  }
  if (m.sharing && m.type !== 'cache') throw new FlagError(`invalid cache sharing set for ${m.type} mount`);
  return m as RunMount;
}

/** docker/go-units RAMInBytes: `64m`, `1g`, `512k`, `100` (binary multiples). */
function parseRamBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(s.trim());
  if (!m) throw new FlagError(`invalid value for size: ${s}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't' | 'p'];
  return Math.floor(Number(m[1]) * mult);
}
