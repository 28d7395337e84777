/** Reading instruction flags (`--name=value`) the way BuildKit's bflag does, plus the value syntaxes they use. */
import type { Flag, Instruction } from '../dockerfile/ast.js';

/** A flag problem: the planner turns it into a DockerfileError at the instruction. */
export class FlagError extends Error {}

/** The last value of a string flag (undefined when absent). A bare `--name` is an error. */
export function stringFlag(ins: Instruction, name: string): string | undefined {
  const found = flagsNamed(ins, name);
  const f = found[found.length - 1];
  if (!f) return undefined;
  if (f.value === null) throw new FlagError(`missing a value on flag: --${name}`);
  return f.value;
}

/** Every value of a repeatable flag, in order. */
export function stringsFlag(ins: Instruction, name: string): string[] {
  return flagsNamed(ins, name).map((f) => {
    if (f.value === null) throw new FlagError(`missing a value on flag: --${name}`);
    return f.value;
  });
}

/** A boolean flag: bare means true; otherwise Go's strconv.ParseBool. */
export function boolFlag(ins: Instruction, name: string): boolean | undefined {
  const found = flagsNamed(ins, name);
  const f = found[found.length - 1];
  if (!f) return undefined;
  if (f.value === null) return true;
  const b = parseGoBool(f.value);
  if (b === undefined) throw new FlagError(`expecting boolean value for flag ${name}, not: ${f.value}`);
  return b;
}

function flagsNamed(ins: Instruction, name: string): Flag[] {
  return ins.flags.filter((f) => f.name.toLowerCase() === name);
}

export function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration (`1m30s`, `500ms`, `1.5h`), in nanoseconds. */
export function parseGoDuration(s: string): number {
  const bad = () => new FlagError(`time: invalid duration ${JSON.stringify(s)}`);
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw bad();
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== '') {
    const m = re.exec(rest);
    if (!m) throw bad();
    total += Number(m[1]) * UNIT_NS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return sign * Math.round(total);
}

/** Splits one CSV record (as Go's encoding/csv reads `--mount` values): commas, `"quoted, fields"`, `""` escapes. */
export function splitCsv(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new FlagError(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ',') throw new FlagError(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
    } else {
      const comma = s.indexOf(',', i);
      const end = comma < 0 ? s.length : comma;
      field = s.slice(i, end);
      if (field.includes('"')) throw new FlagError(`failed to parse csv mounts: bare " in non-quoted-field`);
      i = end;
    }
    out.push(field);
    if (i >= s.length) return out;
    i++; // the comma
  }
}
