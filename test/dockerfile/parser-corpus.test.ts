// BuildKit's own parser test corpus (testdata/buildkit-parser, copied from moby/buildkit):
// every positive case must dump exactly to its `result`, every negative case must fail with a
// `line N` in the message, and testfile-line must give BuildKit's line numbers.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../src/dockerfile/ast.js';
import { dumpBuildkit } from '../../src/dockerfile/buildkit-dump.js';
import { parse } from '../../src/dockerfile/parser.js';
import { parseSyntax } from '../../src/dockerfile/syntax.js';

const root = join(import.meta.dirname, '..', '..', 'testdata', 'buildkit-parser');
const positive = readdirSync(join(root, 'testfiles')).sort();
const negative = readdirSync(join(root, 'testfiles-negative')).sort();

// Cases BuildKit's parser accepts but its instruction layer rejects (as `docker build` would).
const rejectedByInstructions: Record<string, string> = {
  flags: 'unknown flag: --user',
  health: 'HEALTHCHECK requires at least one argument (line 4)',
};

describe('BuildKit parser corpus', () => {
  it('has the 33 positive and 4 negative cases', () => {
    expect(positive).toHaveLength(33);
    expect(negative).toHaveLength(4);
  });

  for (const name of positive) {
    it(`dumps ${name} exactly as BuildKit`, () => {
      const text = readFileSync(join(root, 'testfiles', name, 'Dockerfile'), 'utf8');
      const expected = readFileSync(join(root, 'testfiles', name, 'result'), 'utf8');
      expect(`${dumpBuildkit(parseSyntax(text))}\n`).toBe(expected);
      const reason = rejectedByInstructions[name];
      if (reason) {
        expect(() => parse(text)).toThrow(reason);
      } else {
        // The typed AST dumps the same, through the node each instruction keeps.
        expect(`${dumpBuildkit(parse(text))}\n`).toBe(expected);
      }
    });
  }

  for (const name of negative) {
    it(`rejects ${name} with a line number`, () => {
      const text = readFileSync(join(root, 'testfiles-negative', name, 'Dockerfile'), 'utf8');
      let error: unknown;
      try {
        parseSyntax(text);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DockerfileError);
      expect((error as Error).message).toMatch(/line \d+/);
      expect(() => parse(text)).toThrow(/line \d+/);
    });
  }

  it('gives BuildKit line numbers for testfile-line', () => {
    const text = readFileSync(join(root, 'testfile-line', 'Dockerfile'), 'utf8');
    const df = parse(text);
    expect(df.instructions.map((i) => [i.range.start.line, i.range.end.line])).toEqual([
      [5, 5],
      [11, 12],
      [17, 31],
    ]);
    expect(df.warnings.map((w) => w.rule!).sort()).toEqual(['LegacyKeyValueFormat', 'NoEmptyContinuation'].sort());
  });
});
