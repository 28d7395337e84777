/**
 * The typed layer, BuildKit's instructions.Parse: each untyped node becomes an Instruction of
 * ast.ts, or a DockerfileError (unknown instruction, bad or misplaced flag, wrong arguments,
 * `ONBUILD ONBUILD`...). Values stay as written; expansion is the planner's job.
 */
import type { CommandLine, Flag, Heredoc, Instruction, KeyValue, SourceRange, Warning } from './ast.js';
import { syntaxError, excerptOf } from './errors.js';
import { checkFlags, instructionFlags, parseGoDuration, splitFlag } from './flags.js';
import { parseHeredocWord } from './heredoc.js';
import { checkMount } from './mount.js';
import { suggest } from './suggest.js';
import { positionAt, type SyntaxInstruction, type SyntaxNode } from './syntax.js';

const instructionNames = ['ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL', 'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'];


class Fail extends Error {
  constructor(
    message: string,
    /** Offset in the logical line the error points at, when it is more precise than the start. */
    readonly offset?: number,
  ) {
    super(message);
  }
}

const validStageName = /^[a-z][a-z0-9-_.]*$/;

function command(node: SyntaxNode): CommandLine {
  return node.json ? { form: 'exec', args: node.args } : { form: 'shell', command: node.args.join(' ') };
}

function flagsOf(node: SyntaxNode, allowed: Record<string, 'bool' | 'string' | 'strings'>): void {
  const message = checkFlags(
    node.flags.map((f) => f.value),
    allowed,
  );
  if (message) {
    // Point at the flag the message names.
    const name = /--[^ :,]*/.exec(message.slice(message.indexOf('--')))?.[0];
    const at = node.flags.find((f) => f.value === name || f.value.startsWith(`${name}=`));
    throw new Fail(message, at?.offset);
  }
}

function flagValue(node: SyntaxNode, name: string): string | undefined {
  let value: string | undefined;
  for (const f of node.flags) {
    const p = splitFlag(f.value);
    if (p.name === name && p.value !== null) value = p.value;
  }
  return value;
}

function keyValues(node: SyntaxNode, name: string, warnings: Warning[], range: SourceRange): KeyValue[] {
  flagsOf(node, {});
  const a = node.args;
  if (a.length === 0) throw new Fail(`${name} requires at least one argument`);
  const pairs: KeyValue[] = [];
  for (let j = 0; j + 2 < a.length; j += 3) {
    if (a[j] === '') throw new Fail(`${name} names can not be blank`);
    pairs.push({ key: a[j]!, value: a[j + 1]! });
    if (a[j + 2] === '') {
      warnings.push({ rule: 'LegacyKeyValueFormat', message: `"${name} key=value" should be used instead of legacy "${name} key value" format`, range });
    }
  }
  return pairs;
}

function exactlyOne(node: SyntaxNode, name: string): string {
  if (node.args.length !== 1) throw new Fail(`${name} requires exactly one argument`);
  return node.args[0]!;
}

function atLeastOne(node: SyntaxNode, name: string): void {
  if (node.args.length === 0) throw new Fail(`${name} requires at least one argument`);
}

function checkDuration(node: SyntaxNode, name: string): void {
  const value = flagValue(node, name);
  if (value === undefined || value === '') return;
  const ns = parseGoDuration(value);
  if (ns === null) throw new Fail(`time: invalid duration ${JSON.stringify(value)}`);
  if (ns !== 0 && ns < 1e6) throw new Fail(`Interval ${JSON.stringify(name)} cannot be less than 1ms`);
}

interface Context {
  top: SyntaxInstruction;
  warnings: Warning[];
  heredocs: Heredoc[];
}

function convert(node: SyntaxNode, ctx: Context, original: string, range: SourceRange): Instruction {
  const kind = node.keyword.toUpperCase();
  const lower = kind.toLowerCase();
  const flags: Flag[] = node.flags.map((f) => {
    const p = splitFlag(f.value);
    return { name: p.name, value: p.value, range: { start: positionAt(ctx.top, f.offset), end: positionAt(ctx.top, f.offset + f.raw.length) } };
  });
  const base = { keyword: node.keyword, original, range, flags };
  const a = node.args;
  switch (kind) {
    case 'FROM': {
      let alias: string | undefined;
      if (a.length === 3 && a[1]!.toLowerCase() === 'as') {
        alias = a[2]!.toLowerCase();
        if (!validStageName.test(alias)) throw new Fail(`invalid name for build stage: ${JSON.stringify(a[2])}, name can't start with a number or contain symbols`);
        if (a[2] !== alias) ctx.warnings.push({ rule: 'StageNameCasing', message: `Stage name '${a[2]}' should be lowercase`, range });
        const kwLower = node.keyword === node.keyword.toLowerCase();
        const kwUpper = node.keyword === node.keyword.toUpperCase();
        if ((kwLower && a[1] !== a[1]!.toLowerCase()) || (kwUpper && a[1] !== a[1]!.toUpperCase())) {
          ctx.warnings.push({ rule: 'FromAsCasing', message: `'${a[1]}' and '${node.keyword}' keywords' casing do not match`, range });
        }
      } else if (a.length !== 1) {
        throw new Fail('FROM requires either one or three arguments');
      }
      flagsOf(node, instructionFlags.from!);
      return alias === undefined ? { kind: 'FROM', ...base, image: a[0]! } : { kind: 'FROM', ...base, image: a[0]!, alias };
    }
    case 'RUN': {
      flagsOf(node, instructionFlags.run!);
      const network = flagValue(node, 'network');
      if (network !== undefined && !['default', 'none', 'host'].includes(network)) throw new Fail(`invalid network mode ${JSON.stringify(network)}`);
      const security = flagValue(node, 'security');
      if (security !== undefined && !['insecure', 'sandbox'].includes(security)) throw new Fail(`security ${JSON.stringify(security)} is not valid`);
      for (const f of node.flags) {
        const p = splitFlag(f.value);
        if (p.name === 'mount' && p.value !== null) {
          const problem = checkMount(p.value);
          if (problem) throw new Fail(problem, f.offset);
        }
      }
      return { kind: 'RUN', ...base, command: command(node), heredocs: ctx.heredocs };
    }
    case 'CMD':
      flagsOf(node, {});
      return { kind: 'CMD', ...base, command: command(node) };
    case 'ENTRYPOINT':
      flagsOf(node, {});
      return { kind: 'ENTRYPOINT', ...base, command: command(node) };
    case 'SHELL':
      flagsOf(node, {});
      if (a.length === 0) throw new Fail('SHELL requires at least one argument');
      if (!node.json) throw new Fail('SHELL requires the arguments to be in JSON form');
      return { kind: 'SHELL', ...base, args: a };
    case 'LABEL':
      return { kind: 'LABEL', ...base, pairs: keyValues(node, 'LABEL', ctx.warnings, range) };
    case 'ENV':
      return { kind: 'ENV', ...base, pairs: keyValues(node, 'ENV', ctx.warnings, range) };
    case 'MAINTAINER': {
      const name = exactlyOne(node, 'MAINTAINER');
      flagsOf(node, {});
      ctx.warnings.push({ rule: 'MaintainerDeprecated', message: 'Maintainer instruction is deprecated in favor of using label', range });
      return { kind: 'MAINTAINER', ...base, name };
    }
    case 'EXPOSE':
      atLeastOne(node, 'EXPOSE');
      flagsOf(node, {});
      return { kind: 'EXPOSE', ...base, ports: a };
    case 'ADD':
    case 'COPY': {
      if (a.length < 2) throw new Fail(`${kind} requires at least two arguments, but only one was provided. Destination could not be determined`);
      flagsOf(node, instructionFlags[lower]!);
      const dest = a[a.length - 1]!;
      if (parseHeredocWord(dest)) throw new Fail(`${kind} cannot accept a heredoc as a destination`);
      return { kind, ...base, sources: a.slice(0, -1), dest, heredocs: ctx.heredocs };
    }
    case 'VOLUME': {
      atLeastOne(node, 'VOLUME');
      flagsOf(node, {});
      const paths = a.map((v) => v.trim());
      if (paths.some((p) => p === '')) throw new Fail('VOLUME specified can not be an empty string');
      return { kind: 'VOLUME', ...base, paths };
    }
    case 'USER': {
      const user = exactlyOne(node, 'USER');
      flagsOf(node, {});
      return { kind: 'USER', ...base, user };
    }
    case 'WORKDIR': {
      const path = exactlyOne(node, 'WORKDIR');
      flagsOf(node, {});
      return { kind: 'WORKDIR', ...base, path };
    }
    case 'ARG': {
      atLeastOne(node, 'ARG');
      const args = a.map((word) => {
        const eq = word.indexOf('=');
        if (eq < 0) return { key: word };
        if (eq === 0) throw new Fail('ARG names can not be blank');
        return { key: word.slice(0, eq), value: word.slice(eq + 1) };
      });
      return { kind: 'ARG', ...base, args };
    }
    case 'ONBUILD': {
      const child = node.child;
      if (!child) throw new Fail('ONBUILD requires at least one argument');
      flagsOf(node, {});
      const trigger = child.keyword.toUpperCase();
      if (trigger === 'ONBUILD') throw new Fail('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed', child.keywordOffset);
      if (trigger === 'MAINTAINER' || trigger === 'FROM') throw new Fail(`${trigger} isn't allowed as an ONBUILD trigger`, child.keywordOffset);
      const triggerRange = { start: positionAt(ctx.top, child.keywordOffset), end: range.end };
      return { kind: 'ONBUILD', ...base, trigger: convert(child, ctx, child.line, triggerRange) };
    }
    case 'STOPSIGNAL':
      return { kind: 'STOPSIGNAL', ...base, signal: exactlyOne(node, 'STOPSIGNAL') };
    case 'HEALTHCHECK': {
      atLeastOne(node, 'HEALTHCHECK');
      const type = a[0]!.toUpperCase();
      if (type === 'NONE') {
        if (a.length !== 1) throw new Fail('HEALTHCHECK NONE takes no arguments');
        return { kind: 'HEALTHCHECK', ...base, test: { type: 'NONE' } };
      }
      flagsOf(node, instructionFlags.healthcheck!);
      if (type !== 'CMD') throw new Fail(`Unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`);
      if (a.length === 1) throw new Fail('Missing command after HEALTHCHECK CMD');
      for (const name of ['interval', 'timeout', 'start-period', 'start-interval']) checkDuration(node, name);
      const retries = flagValue(node, 'retries');
      if (retries !== undefined && retries !== '') {
        if (!/^[+-]?\d+$/.test(retries) || Math.abs(Number(retries)) > 2 ** 31 - 1) throw new Fail(`strconv.ParseInt: parsing ${JSON.stringify(retries)}: invalid syntax`);
        if (Number(retries) < 0) throw new Fail(`--retries cannot be negative (${Number(retries)})`);
      }
      const cmd = a.slice(1);
      return { kind: 'HEALTHCHECK', ...base, test: { type: 'CMD', command: node.json ? { form: 'exec', args: cmd } : { form: 'shell', command: cmd.join(' ') } } };
    }
    default: {
      const hint = suggest(node.keyword, instructionNames);
      throw new Fail(`unknown instruction: ${node.keyword}${hint ? ` (did you mean ${hint}?)` : ''}`, node.keywordOffset);
    }
  }
}

/** Types one top-level instruction; warnings are appended to `warnings`. */
export function toInstruction(top: SyntaxInstruction, file: string, warnings: Warning[]): Instruction {
  try {
    return convert(top, { top, warnings, heredocs: top.heredocs }, top.source, top.range);
  } catch (e) {
    if (e instanceof Fail) {
      const at = e.offset === undefined ? top.range.start : positionAt(top, e.offset);
      throw syntaxError(file, at.line, at.column, e.message, excerptOf(top.source));
    }
    throw e;
  }
}
