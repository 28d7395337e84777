import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

const found = new Map<string, string | undefined>();

/** The path of an executable in PATH (memoised), or undefined. */
export function findTool(name: string): string | undefined {
  if (found.has(name)) return found.get(name);
  let hit: string | undefined;
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      hit = join(dir, name);
      break;
    } catch {
      // not here
    }
  }
  found.set(name, hit);
  return hit;
}

/** Runs a tool to completion, feeding `input`; resolves its stdout, rejects with its stderr's first line. */
export function runTool(tool: string, args: string[], input?: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${tool} failed (exit ${code}): ${Buffer.concat(err).toString().trim().split('\n')[0] ?? ''}`));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}
