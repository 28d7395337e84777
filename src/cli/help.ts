import type { Command } from './command.js';

function optionLines(cmd: Pick<Command, 'options'>): string[] {
  const rows = Object.entries(cmd.options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.placeholder ?? 'VALUE'}` : ''}`;
    const extra = spec.default !== undefined && spec.default !== false ? ` (default: ${String(spec.default)})` : spec.multiple ? ' (repeatable)' : '';
    return [flag, spec.description + extra] as const;
  });
  rows.push(['-h, --help', 'Show this help']);
  const width = Math.max(...rows.map(([f]) => f.length));
  return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`);
}

export function commandHelp(cmd: Command): string {
  const lines = [`Usage: tsbuild ${cmd.name} ${cmd.usage}`.trimEnd(), '', cmd.summary];
  if (cmd.description) lines.push('', cmd.description.trimEnd());
  lines.push('', 'Options:', ...optionLines(cmd));
  return lines.join('\n') + '\n';
}

export function globalHelp(commands: readonly Command[], version: string): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `tsbuild ${version}: build OCI images from Dockerfiles without a daemon, move them between registries, serve a registry`,
    '',
    'Usage: tsbuild [GLOBAL OPTIONS] COMMAND [ARGS...]',
    '       tsbuild [GLOBAL OPTIONS] -t NAME [BUILD OPTIONS] CONTEXT   (same as tsbuild build)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    '  --root DIR     Local store directory (env TSBUILD_ROOT; default ~/.local/share/tsbuild)',
    '  -v, --version  Print the version',
    '  -h, --help     Show this help',
    '',
    "Run 'tsbuild COMMAND --help' for a command's options.",
    '',
  ].join('\n');
}
