import { parseArgs } from 'node:util';
import { type Command, type ParsedArgs, UsageError } from './command.js';

/** Parses a command's arguments strictly: unknown flags and wrong arity are UsageErrors. */
export function parseCommandArgs(cmd: Command, argv: string[]): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(cmd.options)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  options.help = { type: 'boolean', short: 'h' };
  let own = argv;
  let tail: string[] = [];
  if (cmd.stopAtFirstPositional) {
    const at = firstPositional(cmd, argv);
    own = argv.slice(0, at + 1);
    tail = argv.slice(at + 1);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: own, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(usageMessage(cmd, e as Error));
  }
  const values: ParsedArgs['options'] = { ...parsed.values };
  const positionals = [...parsed.positionals, ...tail];
  for (const [name, spec] of Object.entries(cmd.options)) {
    if (values[name] === undefined && spec.default !== undefined) values[name] = spec.default;
  }
  const n = positionals.length;
  if (values.help === true) return { options: values, positionals };
  const { min = 0, max = Infinity } = cmd.args ?? {};
  if (n < min) throw new UsageError(`"tsbuild ${cmd.name}" requires ${min === max ? 'exactly' : 'at least'} ${min} argument${min === 1 ? '' : 's'}: tsbuild ${cmd.name} ${cmd.usage}`);
  if (n > max) throw new UsageError(`"tsbuild ${cmd.name}" accepts ${max === 0 ? 'no arguments' : `at most ${max} argument${max === 1 ? '' : 's'}`}, got ${n}: tsbuild ${cmd.name} ${cmd.usage}`);
  return { options: values, positionals };
}

/** Index of the first positional argument, skipping flags and the values they take. */
function firstPositional(cmd: Command, argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return i + 1 < argv.length ? i + 1 : argv.length;
    if (!a.startsWith('-') || a === '-') return i;
    if (a.includes('=')) continue;
    const spec = a.startsWith('--') ? cmd.options[a.slice(2)] : Object.values(cmd.options).find((o) => o.short === a.slice(1));
    if (spec?.type === 'string') i++;
  }
  return argv.length;
}

/** node's parseArgs messages are long and multi-line; reduce them to one clear line. */
function usageMessage(cmd: Command, e: Error): string {
  const code = (e as { code?: string }).code;
  const flag = /'([^']+)'/.exec(e.message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown flag ${flag ?? ''} for "tsbuild ${cmd.name}" (see tsbuild ${cmd.name} --help)`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return `flag ${flag?.split(' ')[0] ?? ''} of "tsbuild ${cmd.name}" needs a value (see tsbuild ${cmd.name} --help)`;
  return `${e.message.split('\n')[0]} (see tsbuild ${cmd.name} --help)`;
}
