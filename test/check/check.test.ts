/** The `check` directive, per-instruction `# check=` comments, options, failures and the text format. */
import { describe, expect, test } from 'vitest';
import { checkDockerfile, formatFindings, violationMessage, type CheckOptions } from '../../src/check/check.js';
import { parseCheckOptions } from '../../src/check/check-options.js';
import { parse } from '../../src/dockerfile/parser.js';

const amd64 = { os: 'linux', architecture: 'amd64' };

function check(text: string, options: CheckOptions = {}) {
  return checkDockerfile(parse(text), { text, platform: amd64, buildPlatform: amd64, ...options });
}
const rulesOf = (text: string, options?: CheckOptions) => check(text, options).findings.map((f) => `${f.line}:${f.rule}`);

const noisy = `FROM scratch as Base
MAINTAINER me
CMD run me
copy a /a
`;

describe('the check directive', () => {
  test('without it every rule reports', () => {
    expect(rulesOf(noisy)).toEqual(['1:StageNameCasing', '1:FromAsCasing', '2:MaintainerDeprecated', '3:JSONArgsRecommended', '4:ConsistentInstructionCasing']);
  });

  test('skip=Rule1,Rule2 silences those rules only', () => {
    expect(rulesOf(`# check=skip=JSONArgsRecommended, MaintainerDeprecated\n${noisy}`)).toEqual(['2:StageNameCasing', '2:FromAsCasing', '5:ConsistentInstructionCasing']);
  });

  test('skip=all silences everything', () => {
    const r = check(`# check=skip=all;error=true\n${noisy}`);
    expect(r.findings).toEqual([]);
    expect(violationMessage(r)).toBeUndefined();
  });

  test('error=true makes findings errors and names the rules', () => {
    const r = check(`#check=skip=ConsistentInstructionCasing,StageNameCasing,MaintainerDeprecated,JSONArgsRecommended;error=true\n${noisy}`);
    expect(r.errorOnFindings).toBe(true);
    expect(r.findings.map((f) => [f.rule, f.severity])).toEqual([['FromAsCasing', 'error']]);
    expect(violationMessage(r)).toBe('lint violation found for rules: FromAsCasing');
    expect(formatFindings(r).split('\n').at(-2)).toBe('Check failed, 1 error has been found! (lint violation found for rules: FromAsCasing)');
  });

  test('the BUILDKIT_DOCKERFILE_CHECK build arg replaces the directive', () => {
    const r = check(`# check=skip=all\n${noisy}`, { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'skip=ConsistentInstructionCasing;error=true' } });
    expect(r.findings.map((f) => f.rule)).toEqual(['StageNameCasing', 'FromAsCasing', 'MaintainerDeprecated', 'JSONArgsRecommended']);
    expect(r.errorOnFindings).toBe(true);
    // An unconsumed-build-arg warning is the planner's business, not a lint finding.
    expect(r.failure).toBeUndefined();
  });

  test('a malformed directive is a failure with BuildKit message, and nothing is checked', () => {
    const r = check(`# check=skip\n${noisy}`);
    expect(r.findings).toEqual([]);
    expect(r.failure).toEqual({ message: 'failed to parse check options: invalid check option "skip"', file: 'Dockerfile', line: 1, column: 1 });
    expect(() => parseCheckOptions('error=maybe')).toThrow('failed to parse check option "error=maybe"');
    expect(() => parseCheckOptions('color=red')).toThrow('invalid check option "color"');
  });
});

describe('per-instruction check comments', () => {
  const text = `FROM scratch
ENV password=bar
# check=skip=SecretsUsedInArgOrEnv // allowed here
ENV token=bar
# check=skip=all // local to this instruction
ARG alternate_password
ARG api_key
`;
  test('apply to the instruction below only', () => {
    expect(rulesOf(text)).toEqual(['2:SecretsUsedInArgOrEnv', '7:SecretsUsedInArgOrEnv']);
  });
  test('need the text: the AST keeps no comments', () => {
    const r = checkDockerfile(parse(text), { platform: amd64, buildPlatform: amd64 });
    expect(r.findings.map((f) => f.line)).toEqual([2, 4, 6, 7]);
  });
  test('do not apply to file-wide rules such as ConsistentInstructionCasing', () => {
    expect(rulesOf('FROM scratch\nCOPY a /a\n# check=skip=all\ncopy b /b\n')).toEqual(['4:ConsistentInstructionCasing']);
  });
  test('a bare # starts the comment block over', () => {
    expect(rulesOf('FROM scratch\n# check=skip=all\n#\nMAINTAINER me\n')).toEqual(['4:MaintainerDeprecated']);
  });
  test('MultipleInstructionsDisallowed is reported at the overridden one, under the overriding one\'s comments', () => {
    expect(rulesOf('FROM scratch\nCMD ["a"]\nCMD ["b"]\n')).toEqual(['2:MultipleInstructionsDisallowed']);
    expect(rulesOf('FROM scratch\nCMD ["a"]\n# check=skip=MultipleInstructionsDisallowed\nCMD ["b"]\n')).toEqual([]);
  });
});

describe('scope', () => {
  const twoStages = `FROM scratch AS first
COPY $foo .

FROM scratch AS second
COPY $bar .
`;
  test('without a target every stage is checked, as BuildKit lint does', () => {
    expect(rulesOf(twoStages)).toEqual(['2:UndefinedVar', '5:UndefinedVar']);
  });
  test('with a target only the stages it needs', () => {
    expect(rulesOf(twoStages, { target: 'first' })).toEqual(['2:UndefinedVar']);
  });

  test('UndefinedVar needs the base image environment: unknown, nothing is guessed', () => {
    const text = 'FROM eclipse-temurin\nENV PATH=$JAVA_HOME/bin:$PATH\n';
    expect(rulesOf(text)).toEqual([]);
    expect(rulesOf(text, { imageEnv: () => ['PATH=/usr/bin', 'JAVA_HOME=/opt/java'] })).toEqual([]);
    const r = check(text, { imageEnv: (ref) => (ref === 'eclipse-temurin' ? ['PATH=/usr/bin', 'JAVA_HOM=/x'] : undefined) });
    expect(r.findings.map((f) => f.message)).toEqual(["Usage of undefined variable '$JAVA_HOME' (did you mean $JAVA_HOM?)"]);
  });

  test('a stage inherits its parent stage ARGs, WORKDIR and SHELL', () => {
    const text = `FROM scratch AS base
ARG dir
WORKDIR /app
SHELL ["/bin/bash", "-c"]
FROM base
COPY \${dir}/x .
WORKDIR sub
CMD run it
`;
    expect(rulesOf(text)).toEqual([]);
  });

  test('with the escape directive, a backtick continues lines', () => {
    const text = '# escape=`\nFROM scratch\nCOPY a `\n\n  /a\n';
    expect(rulesOf(text)).toEqual(['5:NoEmptyContinuation']);
  });

  test('CopyIgnoredFile is off without ignore patterns and when any pattern is an exception', () => {
    const text = 'FROM scratch\nCOPY Dockerfile /\n';
    expect(rulesOf(text)).toEqual([]);
    expect(rulesOf(text, { dockerignore: [{ pattern: 'Dockerfile', exception: false }] })).toEqual(['2:CopyIgnoredFile']);
    expect(rulesOf(text, { dockerignore: [{ pattern: '**', exception: false }, { pattern: 'Dockerfile', exception: true }] })).toEqual([]);
    expect(check('FROM scratch\nCOPY . .\n', { dockerignore: [{ pattern: '*', exception: false }] }).findings.map((f) => f.message)).toEqual([
      'Attempting to Copy file "." that is excluded by .dockerignore',
    ]);
  });
});

describe('a Dockerfile that does not build', () => {
  test('is still linted as far as the AST goes, and the failure is reported with its place', () => {
    const text = 'FROM scratch AS Bad\nFROM --platform=$BULIDPLATFORM scratch\nCOPY a /a\n';
    const r = check(text);
    expect(r.findings.map((f) => `${f.line}:${f.rule}:${f.message}`)).toEqual([
      "1:StageNameCasing:Stage name 'Bad' should be lowercase",
      "2:UndefinedArgInFrom:FROM argument 'BULIDPLATFORM' is not declared (did you mean BUILDPLATFORM?)",
    ]);
    expect(r.failure).toMatchObject({ line: 2, column: 1, message: 'empty platform value from expression $BULIDPLATFORM' });
    expect(formatFindings(r, { file: 'app/Dockerfile' })).toBe(
      [
        "app/Dockerfile:1:1: StageNameCasing: Stage name 'Bad' should be lowercase",
        "app/Dockerfile:2:1: UndefinedArgInFrom: FROM argument 'BULIDPLATFORM' is not declared (did you mean BUILDPLATFORM?)",
        'app/Dockerfile:2:1: empty platform value from expression $BULIDPLATFORM',
        'Check failed: the Dockerfile does not build, and 2 warnings have been found!',
        '',
      ].join('\n'),
    );
  });

  test('an unknown --target is a failure without a place', () => {
    const r = check('FROM scratch\n', { target: 'nope' });
    expect(r.failure?.message).toBe('target stage "nope" could not be found');
    expect(r.failure?.line).toBeUndefined();
  });
});

describe('formatFindings', () => {
  test('one line per finding, then the summary', () => {
    expect(formatFindings(check('FROM scratch\n'))).toBe('Check complete, no warnings found.\n');
    expect(formatFindings(check('FROM scratch\nMAINTAINER me\n'))).toBe(
      'Dockerfile:2:1: MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label\nCheck complete, 1 warning has been found!\n',
    );
    expect(formatFindings(check('FROM scratch\nMAINTAINER me\nMAINTAINER you\n')).split('\n').at(-2)).toBe('Check complete, 2 warnings have been found!');
  });
  test('findings carry the rule page', () => {
    expect(check('FROM scratch\nMAINTAINER me\n').findings[0]?.url).toBe('https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/');
  });
});
