/**
 * Planner golden files: testdata/plan/NAME.Dockerfile, optional NAME.args.json ({buildArgs, target}),
 * expected NAME.json (the `tsbuild plan` JSON, or {"error": message}). Platform fixed to linux/amd64.
 * Regenerate with UPDATE_GOLDEN=1 after checking the differences by hand.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from '../../src/dockerfile/parser.js';
import { planToJson } from '../../src/plan/plan-json.js';
import { planBuild } from '../../src/plan/planner.js';

const dir = join(import.meta.dirname, '../../testdata/plan');
const cases = readdirSync(dir).filter((f) => f.endsWith('.Dockerfile')).sort();
const amd64 = { os: 'linux', architecture: 'amd64' };

describe('planner golden files', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
  });
  for (const name of cases) {
    it(name, () => {
      const base = name.replace(/\.Dockerfile$/, '');
      const argsFile = join(dir, `${base}.args.json`);
      const opts = existsSync(argsFile) ? (JSON.parse(readFileSync(argsFile, 'utf8')) as { buildArgs?: Record<string, string>; target?: string }) : {};
      let actual: unknown;
      try {
        const df = parse(readFileSync(join(dir, name), 'utf8'), { file: name });
        actual = planToJson(planBuild(df, { ...opts, platform: amd64, buildPlatform: amd64 }));
      } catch (e) {
        actual = { error: (e as Error).message };
      }
      const expectedFile = join(dir, `${base}.json`);
      const text = `${JSON.stringify(actual, null, 2)}\n`;
      if (process.env.UPDATE_GOLDEN) writeFileSync(expectedFile, text);
      expect(text).toBe(readFileSync(expectedFile, 'utf8'));
    });
  }
});
