import type { Writable } from 'node:stream';

/** One option of a command, described once for both parsing and `--help`. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in help, e.g. `NAME` in `-t, --tag NAME`. */
  placeholder?: string;
  description: string;
  default?: string | boolean;
}

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface ParsedArgs {
  options: OptionValues;
  positionals: string[];
}

/** What a command gets from the process: where the store is and where to write. */
export interface CommandContext {
  /** The local store root (global `--root`, `TSBUILD_ROOT`, or the default). */
  root: string;
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM so long work can stop and clean up. */
  signal: AbortSignal;
}

export interface Command {
  /** `build`, or `registry serve` for a nested command. */
  name: string;
  summary: string;
  /** Arguments after the command name, e.g. `[OPTIONS] PATH`. */
  usage: string;
  /** Longer help text, examples included. */
  description?: string;
  options: Record<string, OptionSpec>;
  /** Bounds on positional arguments; checked before `run`. */
  args?: { min?: number; max?: number };
  /** Everything after the first positional is positional too (`run IMAGE sh -c ...`). */
  stopAtFirstPositional?: boolean;
  run(args: ParsedArgs, ctx: CommandContext): Promise<number>;
}

/** Bad command-line usage: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Accessors that keep command code free of casts. */
export function str(o: OptionValues, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' ? v : undefined;
}

export function strs(o: OptionValues, key: string): string[] {
  const v = o[key];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

export function bool(o: OptionValues, key: string): boolean {
  return o[key] === true;
}
