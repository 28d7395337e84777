/**
 * Which `--flags` each instruction takes and how their values are checked, as BuildKit's
 * instruction layer (BFlags) does: unknown flags, duplicates, a missing value, a bad boolean.
 */
import { suggest } from './suggest.js';

export type FlagKind = 'bool' | 'string' | 'strings';

/** Flags by lower-case instruction. Instructions not listed take none. */
export const instructionFlags: Record<string, Record<string, FlagKind>> = {
  from: { platform: 'string' },
  run: { mount: 'strings', network: 'string', security: 'string', device: 'strings' },
  copy: { chown: 'string', from: 'string', chmod: 'string', link: 'bool', exclude: 'strings', parents: 'bool' },
  add: { chown: 'string', chmod: 'string', link: 'bool', 'keep-git-dir': 'bool', checksum: 'string', unpack: 'bool', exclude: 'strings' },
  healthcheck: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

export interface ParsedFlag {
  name: string;
  value: string | null;
}

/** Splits `--name=value` (value null when there is no `=`). */
export function splitFlag(word: string): ParsedFlag {
  const eq = word.indexOf('=');
  const name = (eq < 0 ? word : word.slice(0, eq)).slice(2);
  return { name, value: eq < 0 ? null : word.slice(eq + 1) };
}

/** Checks flag words against an instruction's flag table; returns the error message or null. */
export function checkFlags(words: string[], allowed: Record<string, FlagKind>): string | null {
  const used = new Set<string>();
  for (const word of words) {
    const { name, value } = splitFlag(word);
    const flagName = `--${name}`;
    const kind = allowed[name];
    if (!kind) {
      const hint = suggest(name, Object.keys(allowed));
      return `unknown flag: ${flagName}${hint ? ` (did you mean ${hint}?)` : ''}`;
    }
    if (used.has(name) && kind !== 'strings') return `duplicate flag specified: ${flagName}`;
    used.add(name);
    if (kind === 'bool') {
      if (value === '') return `missing a value on flag: ${flagName}`;
      const v = (value ?? 'true').toLowerCase();
      if (v !== 'true' && v !== 'false') return `expecting boolean value for flag ${flagName}, not: ${value}`;
    } else if (value === null) {
      return `missing a value on flag: ${flagName}`;
    }
  }
  return null;
}

/** Go's time.ParseDuration, in nanoseconds; null when the text is not a duration. */
export function parseGoDuration(s: string): number | null {
  const m = /^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (s === '0' || s === '+0' || s === '-0') return 0;
  if (!m) return null;
  const units: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  for (const part of s.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(part[1]) * units[part[2]!]!;
  return s.startsWith('-') ? -total : total;
}
