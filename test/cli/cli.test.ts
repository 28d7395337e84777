import { describe, expect, it } from 'vitest';
import { loadAllCommands } from '../../src/cli/commands/index.js';
import { runCli } from '../helpers/cli.js';

const run = (...argv: string[]) => runCli(argv, { env: { HOME: '/nonexistent' } });

describe('tsbuild CLI', () => {
  it('lists every registered command in --help', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    for (const c of await loadAllCommands()) expect(r.stdout).toContain(c.name);
  });

  it('prints help for every command', async () => {
    for (const c of await loadAllCommands()) {
      const r = await run(...c.name.split(' '), '--help');
      expect(r.code, c.name).toBe(0);
      expect(r.stdout).toContain(`Usage: tsbuild ${c.name}`);
    }
  });

  it('prints the package version', async () => {
    const r = await run('--version');
    expect(r.stdout).toMatch(/^tsbuild \d+\.\d+\.\d+/);
  });

  it('rejects unknown flags with one line and exit 2', async () => {
    const r = await run('images', '--bogus');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--bogus');
  });

  it('rejects unknown commands with exit 2', async () => {
    const r = await run('frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });

  it('checks the number of arguments', async () => {
    const r = await run('tag', 'only-one');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('requires exactly 2 arguments');
  });

  it('needs a subcommand for registry', async () => {
    const r = await run('registry');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('serve');
  });

  it('treats a leading flag as the build command', async () => {
    const r = await run('-t', 'x', '--bogus-build-flag', '.');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"tsbuild build"');
  });

  it('keeps flags after the image as the command of run', async () => {
    const r = await run('run', '--help');
    expect(r.stdout).toContain('Usage: tsbuild run');
  });
});
