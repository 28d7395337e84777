/**
 * One folder per rule under testdata/check/<Rule>/: `bad.Dockerfile` must give exactly the findings
 * of `bad.expected` (file:line:col: Rule: message), `good.Dockerfile` none at all. `options.json`
 * (optional) gives build args, .dockerignore text or base image platforms for both.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { checkDockerfile, formatFindings, type CheckOptions } from '../../src/check/check.js';
import { rules } from '../../src/check/rules/index.js';
import { parseDockerignore } from '../../src/dockerfile/dockerignore.js';
import { parse } from '../../src/dockerfile/parser.js';
import { parsePlatform } from '../../src/image/platform.js';

const root = join(import.meta.dirname, '../../testdata/check');
const amd64 = { os: 'linux', architecture: 'amd64' };

interface CaseOptions {
  buildArgs?: Record<string, string>;
  dockerignore?: string;
  imagePlatform?: Record<string, string>;
}

function optionsFor(dir: string, text: string): CheckOptions {
  const file = join(dir, 'options.json');
  const raw: CaseOptions = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const platforms = raw.imagePlatform;
  return {
    text,
    platform: amd64,
    buildPlatform: amd64,
    ...(raw.buildArgs ? { buildArgs: raw.buildArgs } : {}),
    ...(raw.dockerignore !== undefined ? { dockerignore: parseDockerignore(raw.dockerignore) } : {}),
    ...(platforms ? { imagePlatform: (ref: string) => (platforms[ref] ? parsePlatform(platforms[ref]) : undefined) } : {}),
  };
}

function run(dir: string, name: string) {
  const text = readFileSync(join(dir, name), 'utf8');
  return checkDockerfile(parse(text, { file: 'Dockerfile' }), optionsFor(dir, text));
}

const folders = readdirSync(root).filter((n) => statSync(join(root, n)).isDirectory()).sort();

test('every registered rule has a bad and a good Dockerfile, and every folder names a rule', () => {
  expect(folders).toEqual(rules.map((r) => r.name).sort());
});

describe.each(folders)('%s', (rule) => {
  const dir = join(root, rule);
  test('bad.Dockerfile triggers it at the expected places', () => {
    const report = run(dir, 'bad.Dockerfile');
    expect(report.failure).toBeUndefined();
    const lines = formatFindings(report).trimEnd().split('\n').slice(0, -1);
    expect(lines).toEqual(readFileSync(join(dir, 'bad.expected'), 'utf8').trimEnd().split('\n'));
    expect(report.findings.every((f) => f.rule === rule && f.severity === 'warning')).toBe(true);
  });
  test('good.Dockerfile gives no finding', () => {
    const report = run(dir, 'good.Dockerfile');
    expect(report.failure).toBeUndefined();
    expect(report.findings).toEqual([]);
  });
});
