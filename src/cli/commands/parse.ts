import { readFileSync } from 'node:fs';
import { type Command, str, UsageError } from '../command.js';
import { dumpBuildkit } from '../../dockerfile/buildkit-dump.js';
import { parse } from '../../dockerfile/parser.js';
import { parseSyntax } from '../../dockerfile/syntax.js';

const formats = ['json', 'buildkit'];

/**
 * `json` is the typed AST (what the planner reads); `buildkit` is BuildKit's parser test dump,
 * made like BuildKit's own dumper from the untyped layer, so instructions BuildKit's parser keeps
 * and only its later stage rejects (unknown flags, say) still dump.
 */
function render(text: string, file: string, format: string, pretty: boolean): string {
  if (format === 'buildkit') return `${dumpBuildkit(parseSyntax(text, { file }))}\n`;
  return `${JSON.stringify(parse(text, { file }), null, pretty ? 2 : undefined)}\n`;
}

export const parseCommand: Command = {
  name: 'parse',
  summary: 'Parse Dockerfiles and print their syntax tree',
  usage: '[OPTIONS] FILE...',
  description:
    'Prints the syntax tree of each FILE: `json` (the default) is the typed AST, `buildkit` the dump BuildKit\'s parser tests use. ' +
    'JSON is indented on a terminal and one line per file otherwise. With several files, each output follows a line ' +
    '`==> FILE <==`. A file that fails to parse is reported on stderr with its location and the others are still parsed; ' +
    'the exit code is then 1.',
  options: {
    format: { type: 'string', placeholder: 'FORMAT', default: 'json', description: 'Output format: json or buildkit' },
  },
  args: { min: 1 },
  async run(args, ctx) {
    const format = str(args.options, 'format') ?? 'json';
    if (!formats.includes(format)) throw new UsageError(`unknown format "${format}" (one of: ${formats.join(', ')})`);
    const files = args.positionals;
    const pretty = ctx.stdout.isTTY === true;
    let failed = false;
    let printed = false;
    for (const file of files) {
      let output: string;
      try {
        // Many small files one after another: a synchronous read costs far less than awaiting each.
        const text = readFileSync(file, 'utf8');
        output = render(text, file, format, pretty);
      } catch (e) {
        failed = true;
        const code = (e as NodeJS.ErrnoException).code;
        const message = code && 'path' in (e as object) ? `${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}` : (e as Error).message;
        ctx.stderr.write(`tsbuild: ${message.split('\n')[0]}\n`);
        continue;
      }
      if (files.length > 1) ctx.stdout.write(`${printed ? '\n' : ''}==> ${file} <==\n`);
      ctx.stdout.write(output);
      printed = true;
    }
    return failed ? 1 : 0;
  },
};
