import { resolve } from 'node:path';
import { parseCommandArgs } from './args.js';
import { type CommandContext, UsageError } from './command.js';
import { type CommandEntry, commandEntries, loadAllCommands } from './commands/index.js';
import { commandHelp, globalHelp } from './help.js';
import { defaultStoreRoot } from './store-root.js';
import { needsRootless, reexecRootless } from '../rootless/reexec.js';
import { restoreForChildren } from '../net/deferred-ca.js';
import { packageInfo } from '../package-root.js';

/** The package version (src/ in tests, dist/ when built). */
function version(): string {
  return packageInfo()?.version ?? 'unknown';
}

/** Finds the command named by the leading words of argv (`registry serve` before `registry`). */
function findCommand(argv: string[]): { entry: CommandEntry; rest: string[] } | undefined {
  let best: { entry: CommandEntry; rest: string[] } | undefined;
  for (const entry of commandEntries) {
    const words = entry.name.split(' ');
    if (words.every((w, i) => argv[i] === w) && (!best || words.length > best.entry.name.split(' ').length)) {
      best = { entry, rest: argv.slice(words.length) };
    }
  }
  return best;
}

interface Globals {
  root?: string;
  help: boolean;
  version: boolean;
  rest: string[];
}

/** Global flags come before the command name; everything after belongs to the command. */
function parseGlobals(argv: string[]): Globals {
  const g: Globals = { help: false, version: false, rest: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--root') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError('flag --root needs a directory');
      g.root = v;
    } else if (a.startsWith('--root=')) g.root = a.slice('--root='.length);
    else if (a === '-h' || a === '--help') g.help = true;
    else if (a === '-v' || a === '--version') g.version = true;
    else break;
  }
  g.rest = argv.slice(i);
  return g;
}

function errorLine(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] ?? String(e);
  return String(e);
}

/** Runs the CLI and returns the exit code; never throws. */
export async function main(argv: string[], io: Partial<CommandContext> = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  restoreForChildren(env);
  try {
    const g = parseGlobals(argv);
    if (g.version) {
      stdout.write(`tsbuild ${version()}\n`);
      return 0;
    }
    if (g.rest.length === 0) {
      (g.help ? stdout : stderr).write(globalHelp(await loadAllCommands(), version()));
      return g.help ? 0 : 2;
    }
    let found = findCommand(g.rest);
    // `tsbuild -t name .` is `tsbuild build -t name .`, as with docker's buildx shorthand.
    if (!found && g.rest[0]!.startsWith('-')) found = findCommand(['build', ...g.rest]);
    if (!found) {
      const word = g.rest[0]!;
      const group = commandEntries.filter((c) => c.name.startsWith(`${word} `));
      if (group.length > 0) {
        const names = group.map((c) => c.name.split(' ')[1]).join(', ');
        throw new UsageError(g.rest[1] ? `unknown command "tsbuild ${word} ${g.rest[1]}" (one of: ${names})` : `"tsbuild ${word}" needs a subcommand: ${names}`);
      }
      throw new UsageError(`unknown command "${word}" (see tsbuild --help)`);
    }
    const { entry, rest } = found;
    const cmd = await entry.load();
    if (g.help) {
      stdout.write(commandHelp(cmd));
      return 0;
    }
    const args = parseCommandArgs(cmd, rest);
    if (args.options.help === true) {
      stdout.write(commandHelp(cmd));
      return 0;
    }
    // A non-root user's build or run goes on as "root" of a user namespace (see src/rootless/).
    if (needsRootless(entry.name, env)) return await reexecRootless(argv, { stdout, stderr, stdin: io.stdin ?? process.stdin, env });
    const abort = new AbortController();
    const onSignal = () => abort.abort(new Error('interrupted'));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      return await cmd.run(args, {
        root: g.root ? resolve(g.root) : defaultStoreRoot(env),
        stdout,
        stderr,
        stdin: io.stdin ?? process.stdin,
        env,
        signal: io.signal ?? abort.signal,
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } catch (e) {
    const usage = e instanceof UsageError;
    stderr.write(`tsbuild: ${errorLine(e)}\n`);
    const hint = (e as { hint?: string } | null)?.hint;
    if (hint) stderr.write(`hint: ${hint}\n`);
    if (env.TSBUILD_DEBUG && e instanceof Error && e.stack) stderr.write(`${e.stack}\n`);
    const code = (e as { exitCode?: unknown } | null)?.exitCode;
    return usage ? 2 : typeof code === 'number' && code > 0 ? code : 1;
  }
}
