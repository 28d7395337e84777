import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse } from '../../dockerfile/parser.js';
import { parsePlatform } from '../../image/platform.js';
import { planToJson } from '../../plan/plan-json.js';
import { planBuild } from '../../plan/planner.js';
import { type Command, str, strs, UsageError } from '../command.js';
import { CliError } from '../errors.js';

/** `K=V` pairs; a bare `K` takes its value from the environment, as docker does (and is skipped if unset). */
export function parseBuildArgs(specs: string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const key = eq < 0 ? spec : spec.slice(0, eq);
    if (key === '') throw new UsageError(`invalid --build-arg ${JSON.stringify(spec)}: expected KEY=VALUE`);
    if (eq >= 0) out[key] = spec.slice(eq + 1);
    else if (env[key] !== undefined) out[key] = env[key]!;
  }
  return out;
}

export const planCommand: Command = {
  name: 'plan',
  summary: 'Print the build graph of a Dockerfile as JSON',
  usage: '[OPTIONS] CONTEXT',
  description: 'Parses the Dockerfile, resolves stages, ARGs and --target, and prints stages, their bases, expanded steps and dependencies.',
  options: {
    file: { type: 'string', short: 'f', placeholder: 'FILE', description: 'Dockerfile path (default: CONTEXT/Dockerfile)' },
    target: { type: 'string', placeholder: 'STAGE', description: 'Plan up to this stage' },
    'build-arg': { type: 'string', multiple: true, placeholder: 'K=V', description: 'Set a build argument' },
    platform: { type: 'string', placeholder: 'OS/ARCH', description: 'Target platform (default: this host)' },
  },
  args: { min: 1, max: 1 },
  async run(args, ctx) {
    const contextDir = args.positionals[0]!;
    const file = str(args.options, 'file') ?? resolve(contextDir, 'Dockerfile');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new CliError(`cannot read Dockerfile ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const platformSpec = str(args.options, 'platform');
    let platform;
    try {
      platform = platformSpec ? parsePlatform(platformSpec) : undefined;
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const df = parse(text, { file });
    const target = str(args.options, 'target');
    const graph = planBuild(df, {
      buildArgs: parseBuildArgs(strs(args.options, 'build-arg'), ctx.env),
      ...(target !== undefined ? { target } : {}),
      ...(platform ? { platform } : {}),
    });
    ctx.stdout.write(`${JSON.stringify(planToJson(graph), null, 2)}\n`);
    return 0;
  },
};
