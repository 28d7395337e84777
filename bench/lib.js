// Helpers the bench cases share: ports, waiting for a server, timing a command.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';

/** A loopback port free right now (for peers such as docker-registry that need one named). */
export function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once `url` answers anything but a 5xx; fails after about 10 s. */
export async function waitHttp(url) {
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server at ${url} did not start`);
}

/** Runs a command to completion; returns its wall time in seconds and its stdout; throws on failure. */
export function timed(cmd, args, opts = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...opts });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} failed (${r.status}): ${String(r.stderr).slice(-2000)}`);
  return { s, out: String(r.stdout) };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Debian's docker-registry (distribution) on a free loopback port, storing under `root`. */
export async function startDistribution(root) {
  const port = await freePort();
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'config.yml'), `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${root}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child = spawn('/usr/bin/docker-registry', ['serve', join(root, 'config.yml')], { stdio: 'ignore' });
  await waitHttp(`http://127.0.0.1:${port}/v2/`);
  return {
    host: `127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        child.once('exit', r);
        child.kill('SIGTERM');
      }),
  };
}
