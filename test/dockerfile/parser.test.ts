import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerfileError, type Instruction } from '../../src/dockerfile/ast.js';
import { dumpBuildkit } from '../../src/dockerfile/buildkit-dump.js';
import { parseGoDuration } from '../../src/dockerfile/flags.js';
import { parse } from '../../src/dockerfile/parser.js';

const goldenDir = join(import.meta.dirname, '..', '..', 'testdata', 'dockerfiles', 'heredocs');

function only(text: string): Instruction {
  const df = parse(`FROM scratch\n${text}`);
  return df.instructions[1]!;
}

function failure(text: string): DockerfileError {
  try {
    parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(DockerfileError);
    return e as DockerfileError;
  }
  throw new Error(`parsed without error: ${text}`);
}

describe('heredoc golden cases (checked against the Dockerfile reference)', () => {
  for (const name of ['Dockerfile', 'crlf.Dockerfile']) {
    it(`${name}: heredocs and dump`, () => {
      const df = parse(readFileSync(join(goldenDir, name), 'utf8'), { file: name });
      const got = df.instructions.map((i) => {
        const t = i.kind === 'ONBUILD' ? i.trigger : i;
        return { line: i.range.start.line, keyword: i.keyword, heredocs: 'heredocs' in t ? t.heredocs : [] };
      });
      const prefix = name.replace(/Dockerfile$/, '');
      expect(got).toEqual(JSON.parse(readFileSync(join(goldenDir, `${prefix}heredocs.json`), 'utf8')));
      expect(`${dumpBuildkit(df)}\n`).toBe(readFileSync(join(goldenDir, `${prefix}buildkit.result`), 'utf8'));
    });
  }

  it('keeps the instruction text, body included, and its range', () => {
    const df = parse('FROM a\n  RUN <<EOF\necho hi\nEOF\nCMD x\n');
    const run = df.instructions[1]!;
    expect(run.original).toBe('RUN <<EOF\necho hi\nEOF');
    expect(run.range).toEqual({ start: { line: 2, column: 3 }, end: { line: 4, column: 4 } });
    expect(df.instructions[2]!.range.start.line).toBe(5);
  });
});

describe('instructions', () => {
  it('types every instruction of the reference', () => {
    const df = parse(
      [
        'FROM --platform=linux/amd64 golang:1.22 AS Build',
        'RUN --mount=type=secret,id=tok --network=none --security=insecure make',
        'CMD ["a", "b"]',
        'ENTRYPOINT exec ./app',
        'SHELL ["/bin/bash", "-c"]',
        'LABEL a=b "c d"="e f"',
        'MAINTAINER me',
        'EXPOSE 80 443/udp',
        'ENV A=1 B="two words"',
        'ENV LEGACY some value',
        'ADD --checksum=sha256:abc --keep-git-dir --link https://x/y.git /src',
        'COPY --from=build --chown=1:2 --chmod=755 --parents --exclude=*.md a b /dst/',
        'VOLUME ["/v1", "/v2"]',
        'USER 1000:1000',
        'WORKDIR /app',
        'ARG x y=1',
        'ONBUILD COPY . /app',
        'STOPSIGNAL SIGTERM',
        'HEALTHCHECK --interval=5s --timeout=3s --start-period=1s --start-interval=1s --retries=3 CMD curl -f http://x/',
        'HEALTHCHECK NONE',
      ].join('\n'),
    );
    const kinds = df.instructions.map((i) => i.kind);
    expect(kinds).toEqual(['FROM', 'RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ENV', 'ADD', 'COPY', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'HEALTHCHECK']);
    const [from, run, cmd, entry, shell, label, , expose, env, legacy, add, copy, volume, user, workdir, arg, onbuild, stop, health, none] = df.instructions;
    expect(from).toMatchObject({ image: 'golang:1.22', alias: 'build', flags: [{ name: 'platform', value: 'linux/amd64' }] });
    expect(from!.flags[0]!.range).toEqual({ start: { line: 1, column: 6 }, end: { line: 1, column: 28 } });
    expect(run).toMatchObject({ command: { form: 'shell', command: 'make' }, heredocs: [] });
    expect(run!.flags.map((f) => f.name)).toEqual(['mount', 'network', 'security']);
    expect(cmd).toMatchObject({ command: { form: 'exec', args: ['a', 'b'] } });
    expect(entry).toMatchObject({ command: { form: 'shell', command: 'exec ./app' } });
    expect(shell).toMatchObject({ args: ['/bin/bash', '-c'] });
    expect(label).toMatchObject({ pairs: [{ key: 'a', value: 'b' }, { key: '"c d"', value: '"e f"' }] });
    expect(expose).toMatchObject({ ports: ['80', '443/udp'] });
    expect(env).toMatchObject({ pairs: [{ key: 'A', value: '1' }, { key: 'B', value: '"two words"' }] });
    expect(legacy).toMatchObject({ pairs: [{ key: 'LEGACY', value: 'some value' }] });
    expect(add).toMatchObject({ sources: ['https://x/y.git'], dest: '/src' });
    expect(copy).toMatchObject({ sources: ['a', 'b'], dest: '/dst/' });
    expect(copy!.flags.find((f) => f.name === 'parents')!.value).toBeNull();
    expect(volume).toMatchObject({ paths: ['/v1', '/v2'] });
    expect(user).toMatchObject({ user: '1000:1000' });
    expect(workdir).toMatchObject({ path: '/app' });
    expect(arg).toMatchObject({ args: [{ key: 'x' }, { key: 'y', value: '1' }] });
    expect(onbuild).toMatchObject({ trigger: { kind: 'COPY', sources: ['.'], dest: '/app' } });
    expect(stop).toMatchObject({ signal: 'SIGTERM' });
    expect(health).toMatchObject({ test: { type: 'CMD', command: { form: 'shell', command: 'curl -f http://x/' } } });
    expect(none).toMatchObject({ test: { type: 'NONE' } });
    expect(df.warnings.map((w) => w.rule).sort()).toEqual(['LegacyKeyValueFormat', 'MaintainerDeprecated', 'StageNameCasing']);
  });

  it('takes keywords in any case and keeps them as written', () => {
    const i = only('run echo hi');
    expect(i).toMatchObject({ kind: 'RUN', keyword: 'run' });
  });

  it('falls back to shell form for JSON-looking but invalid arguments', () => {
    expect(only('CMD ["a", b]')).toMatchObject({ command: { form: 'shell', command: '["a", b]' } });
    expect(only("CMD ['a']")).toMatchObject({ command: { form: 'shell', command: "['a']" } });
    expect(only('COPY [ "a", "b" /x')).toMatchObject({ sources: ['[', '"a",', '"b"'], dest: '/x' });
  });

  it('joins continuations, skipping comment and blank lines, and warns about the blank ones', () => {
    const df = parse('FROM a\nRUN echo a \\\n  # a comment\n\n  && echo b\nRUN c');
    expect(df.instructions[1]).toMatchObject({ command: { form: 'shell', command: 'echo a   && echo b' } });
    expect(df.instructions[1]!.range).toMatchObject({ start: { line: 2 }, end: { line: 5 } });
    expect(df.warnings).toHaveLength(1);
    expect(df.warnings[0]).toMatchObject({ rule: 'NoEmptyContinuation', range: { start: { line: 2 } } });
  });

  it('reads the escape directive (backtick), syntax and check, only at the top', () => {
    const df = parse('# syntax=docker/dockerfile:1\n# ESCAPE = `\n#check=skip=all\nFROM a\nRUN echo \\ `\n  b\n# escape=\\\n');
    expect(df.directives.map((d) => [d.name, d.value])).toEqual([
      ['syntax', 'docker/dockerfile:1'],
      ['escape', '`'],
      ['check', 'skip=all'],
    ]);
    expect(df.escapeToken).toBe('`');
    expect(df.instructions[1]).toMatchObject({ command: { form: 'shell', command: 'echo \\   b' } });
    // After a blank line or any other line, a directive is only a comment.
    expect(parse('\n# escape=`\nFROM a').escapeToken).toBe('\\');
    expect(parse('# hello\n# escape=`\nFROM a').directives).toEqual([]);
  });

  it('accepts CRLF files and a UTF-8 BOM', () => {
    const df = parse('\uFEFF# escape=`\r\nFROM a\r\nRUN echo a `\r\n  b\r\n');
    expect(df.escapeToken).toBe('`');
    expect(df.instructions[0]).toMatchObject({ image: 'a', range: { start: { line: 2, column: 1 } } });
    expect(df.instructions[1]).toMatchObject({ command: { form: 'shell', command: 'echo a   b' } });
  });

  it('ends the flags at `--`', () => {
    expect(only('COPY -- --weird /x')).toMatchObject({ flags: [], sources: ['--weird'], dest: '/x' });
  });

  it('parses Go durations as HEALTHCHECK does', () => {
    expect(parseGoDuration('1m30s')).toBe(90e9);
    expect(parseGoDuration('1.5h')).toBe(5400e9);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('10')).toBeNull();
  });
});

describe('errors point at the place', () => {
  const cases: [string, string, string, number, number][] = [
    // [what, Dockerfile, message part, line, column]
    ['unknown instruction', 'FROM a\nFOO bar', 'unknown instruction: FOO', 2, 1],
    ['misspelt instruction', 'FROM a\nCOPPY a b', 'unknown instruction: COPPY (did you mean COPY?)', 2, 1],
    ['unknown flag', 'FROM a\nCOPY --frm=x a b', 'unknown flag: --frm (did you mean from?)', 2, 6],
    ['flag on an instruction without flags', 'FROM a\nCMD --x echo', 'unknown flag: --x', 2, 5],
    ['flag without its value', 'FROM a\nCOPY --from a b', 'missing a value on flag: --from', 2, 6],
    ['bad boolean flag', 'FROM a\nCOPY --link=maybe a b', 'expecting boolean value for flag --link, not: maybe', 2, 6],
    ['duplicate flag', 'FROM a\nCOPY --from=a --from=b x y', 'duplicate flag specified: --from', 2, 6],
    ['bad network', 'FROM a\nRUN --network=bridge x', 'invalid network mode "bridge"', 2, 1],
    ['bad mount type', 'FROM a\nRUN --mount=type=nfs x', 'unsupported mount type "nfs"', 2, 5],
    ['bad mount key', 'FROM a\nRUN --mount=type=cache,tgt=/x x', "unexpected key 'tgt'", 2, 5],
    ['unterminated heredoc', 'FROM a\nRUN <<EOF\necho', 'unterminated heredoc', 2, 1],
    // BuildKit gives up on heredocs for a line it cannot split: the body lines are instructions.
    ['unterminated heredoc quote', 'FROM a\nRUN <<"EOF\necho', 'unknown instruction: echo', 3, 1],
    ['ONBUILD ONBUILD', 'FROM a\nONBUILD ONBUILD RUN x', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed', 2, 9],
    ['ONBUILD FROM', 'FROM a\nONBUILD FROM b', "FROM isn't allowed as an ONBUILD trigger", 2, 9],
    ['bare ONBUILD', 'FROM a\nONBUILD', 'ONBUILD requires at least one argument', 2, 1],
    ['FROM arity', 'FROM a b', 'FROM requires either one or three arguments', 1, 1],
    ['bad stage name', 'FROM a AS 1st', 'invalid name for build stage', 1, 1],
    ['ENV without value', 'FROM a\nENV PATH', 'ENV must have two arguments', 2, 1],
    ['ENV word without =', 'FROM a\nENV a=b c', 'can\'t find = in "c"', 2, 1],
    ['nested JSON', 'FROM a\nCMD ["a", ["b"]]', 'arrays must be comprised of strings only', 2, 1],
    ['COPY without destination', 'FROM a\nCOPY a', 'COPY requires at least two arguments', 2, 1],
    ['heredoc as destination', 'FROM a\nCOPY a <<EOF\nx\nEOF', 'COPY cannot accept a heredoc as a destination', 2, 1],
    ['SHELL not JSON', 'FROM a\nSHELL /bin/sh -c', 'SHELL requires the arguments to be in JSON form', 2, 1],
    ['HEALTHCHECK type', 'FROM a\nHEALTHCHECK CONNECT x', 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)', 2, 1],
    ['HEALTHCHECK duration', 'FROM a\nHEALTHCHECK --interval=5 CMD x', 'time: invalid duration "5"', 2, 1],
    ['HEALTHCHECK retries', 'FROM a\nHEALTHCHECK --retries=-1 CMD x', '--retries cannot be negative (-1)', 2, 1],
    ['WORKDIR arity', 'FROM a\nWORKDIR', 'WORKDIR requires exactly one argument', 2, 1],
    ['bad escape directive', '# escape=x\nFROM a', "invalid escape token 'x'", 1, 1],
    ['repeated directive', '# syntax=a\n# syntax=b\nFROM a', 'only one syntax parser directive can be used', 2, 1],
    ['no instructions', '# just a comment\n\n', 'file with no instructions', 2, 1],
    ['empty file', '', 'file with no instructions', 1, 1],
    ['line too long', `FROM a\nRUN ${'x'.repeat(70_000)}`, 'dockerfile line greater than max allowed size of 65535', 2, 1],
  ];
  for (const [what, text, message, line, column] of cases) {
    it(what, () => {
      const e = failure(text);
      expect(e.reason).toContain(message);
      expect([e.line, e.column]).toEqual([line, column]);
      expect(e.message).toContain(`Dockerfile:${line}:${column}: `);
      expect(e.message).toContain(`(line ${line})`);
      expect(e.message.split('\n')).toHaveLength(1);
    });
  }

  it('names the file given', () => {
    const e = failure.call(null, 'FROM a\nBAD x');
    expect(e.file).toBe('Dockerfile');
    expect(() => parse('BAD', { file: 'sub/Dockerfile.dev' })).toThrow(/^sub\/Dockerfile\.dev:1:1: /);
  });
});

describe('size', () => {
  it('parses a 10,000-line Dockerfile and a 3,000-flag instruction', () => {
    const lines: string[] = ['FROM a'];
    for (let i = 0; lines.length < 10_000; i++) lines.push(`RUN --mount=type=cache,target=/c${i} echo ${i} \\`, `  && echo more`, `ENV K${i}=v${i}`);
    const df = parse(lines.join('\n'));
    expect(df.instructions.length).toBeGreaterThan(6000);
    const flags = Array.from({ length: 3_000 }, (_, i) => `--exclude=x${i}`).join(' ');
    expect(parse(`FROM a\nCOPY ${flags} a /b`).instructions[1]!.flags).toHaveLength(3_000);
  });
});
