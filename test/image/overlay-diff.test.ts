import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyLayer, writeLayer } from '../../src/image/layer/index.js';
import { collect, sh, tempDir } from './helpers.js';

// Mounts a real overlayfs (we are root in CI and here) and turns its upper dir into a layer.
let dir: string;
let cleanup: () => Promise<void>;
let mounted = false;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(async () => {
  if (mounted) sh('umount', [join(dir, 'merged')]);
  await cleanup();
});

async function entries(bytes: Buffer): Promise<string[]> {
  const ex = tar.extract();
  const names: string[] = [];
  const done = new Promise<void>((res, rej) => {
    ex.on('entry', (h, s, next) => {
      names.push(h.name);
      s.on('end', next);
      s.resume();
    });
    ex.on('finish', res);
    ex.on('error', rej);
  });
  Readable.from([bytes]).pipe(ex as unknown as NodeJS.WritableStream);
  await done;
  return names;
}

describe('overlay diff', () => {
  it('translates overlay whiteouts and opaque dirs into OCI whiteouts', async () => {
    const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((n) => join(dir, n)) as [string, string, string, string];
    for (const d of [lower, upper, work, merged]) await mkdir(d, { recursive: true });
    await mkdir(join(lower, 'd/sub'), { recursive: true });
    await writeFile(join(lower, 'a'), 'a');
    await writeFile(join(lower, 'keep'), 'keep');
    await writeFile(join(lower, 'd/x'), 'x');
    await writeFile(join(lower, 'd/sub/y'), 'y');
    const m = sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
    if (m.code !== 0) {
      console.warn(`skipping overlay diff test: cannot mount overlayfs here: ${m.stderr.trim()}`);
      return;
    }
    mounted = true;
    await rm(join(merged, 'a'));
    await rm(join(merged, 'd'), { recursive: true });
    await mkdir(join(merged, 'd'));
    await writeFile(join(merged, 'd/new'), 'new');
    await writeFile(join(merged, 'added'), 'added');
    sh('umount', [merged]);
    mounted = false;

    const layer = await collect(writeLayer(upper, { diff: 'overlay', sourceDateEpoch: 0 }));
    const names = await entries(layer);
    expect(names).toContain('.wh.a');
    expect(names).toContain('d/');
    expect(names).toContain('d/.wh..wh..opq');
    expect(names).toContain('d/new');
    expect(names).toContain('added');
    expect(names.some((n) => n.includes('overlay'))).toBe(false);
    const listing = sh('tar', ['--xattrs', '-tvf', '-'], { input: layer });
    expect(listing.code).toBe(0);

    // applying the diff on the lower tree gives what the merged view showed
    const target = join(dir, 'applied');
    sh('cp', ['-a', `${lower}/.`, target]);
    await applyLayer(Readable.from([layer]), target);
    expect((await readdir(target)).sort()).toEqual(['added', 'd', 'keep']);
    expect(await readdir(join(target, 'd'))).toEqual(['new']);
    expect(await readFile(join(target, 'd/new'), 'utf8')).toBe('new');
  });
});
