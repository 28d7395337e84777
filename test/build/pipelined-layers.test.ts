import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildError } from '../../src/build/errors.js';
import { executeBuild } from '../../src/build/executor.js';
import { MemoryRenderer, Progress } from '../../src/build/progress/index.js';
import { parse } from '../../src/dockerfile/parser.js';
import { planBuild } from '../../src/plan/planner.js';
import type { Store } from '../../src/store/store.js';
import { makeBusybox } from '../registry/helpers.js';
import { storeWithBusybox } from './runtime-fixtures.js';

// Real builds (runc + overlay, as root): a step's layer is written while the next step runs, its
// upper dir serving as that step's lower. These tests check the result is the same as writing in
// step order, and that a layer failing to write fails the build cleanly.

const DOCKERFILE = `FROM busybox:latest
COPY a.txt /data/a.txt
RUN cat /data/a.txt > /data/b.txt && rm /data/a.txt
COPY c.txt /data/
RUN ls /data > /listing.txt
`;

let work: string;
let busybox: string;
let context: string;

function freshStore(name: string): Promise<Store> {
  return storeWithBusybox(join(work, name), busybox);
}

function build(store: Store, dockerfile = DOCKERFILE) {
  return executeBuild({ store, graph: planBuild(parse(dockerfile, { file: 'Dockerfile' })), contextDir: context, progress: new Progress(new MemoryRenderer()), sourceDateEpoch: 1_700_000_000 });
}

// Later stages use a finished stage while its last layers are still being written: FROM it,
// COPY --from it and RUN --mount=from it all see its pending layers.
const STAGES = `FROM busybox:latest AS a
COPY a.txt /data/a.txt
RUN cp /data/a.txt /data/b.txt && echo more >> /data/b.txt

FROM a AS b
RUN cat /data/b.txt /data/b.txt > /b-seen

FROM busybox:latest
COPY --from=a /data/b.txt /c.txt
COPY --from=b /b-seen /b-seen
RUN --mount=from=a,target=/mnt/a cat /mnt/a/data/b.txt > /mount-seen
`;

/** A file of an image, read from the committed snapshot of the topmost layer that has it. */
async function imageFile(root: string, diffIds: string[], path: string): Promise<string> {
  for (const id of [...diffIds].reverse()) {
    try {
      return readFileSync(join(root, 'snapshots', id.slice(7), 'fs', path), 'utf8');
    } catch {
      // not in this layer
    }
  }
  throw new Error(`${path} is in no layer`);
}

/** Working dirs of steps left in a store (the snapshotter's own `.overlay-ok` marker aside). */
async function workDirs(root: string): Promise<string[]> {
  return (await readdir(join(root, 'snapshots', 'work')).catch(() => [])).filter((n) => !n.startsWith('.'));
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes(dir));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tsbuild-pipelined-'));
  busybox = join(work, 'busybox');
  makeBusybox(busybox);
  context = join(work, 'ctx');
  await mkdir(context);
  await writeFile(join(context, 'a.txt'), 'a\n');
  await writeFile(join(context, 'c.txt'), 'c\n');
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('layers written in the background', () => {
  it('give the same image in two stores, commit every snapshot and leave no working dir', async () => {
    const one = await build(await freshStore('one'));
    const two = await build(await freshStore('two'));
    expect(one.executed).toBe(4);
    expect(two.image.descriptor.digest).toBe(one.image.descriptor.digest);
    // Every layer's snapshot is in the cache under its diffId, and the working dirs are gone.
    for (const diffId of one.image.config.rootfs.diff_ids) {
      expect((await readdir(join(work, 'one', 'snapshots', diffId.slice(7)))).includes('fs')).toBe(true);
    }
    expect(await workDirs(join(work, 'one'))).toEqual([]);
    const again = await build(await freshStore('one'));
    expect(again.executed).toBe(0);
  });

  it('a layer that fails to write fails the build under its step, with nothing mounted or left behind', async () => {
    const store = await freshStore('failing');
    const write = store.blobs.write.bind(store.blobs);
    let layers = 0;
    // Stands in for a full disk on the second layer.
    store.blobs.write = ((...args: Parameters<typeof write>) => {
      if (++layers === 2) return Promise.reject(new Error('ENOSPC: no space left on device'));
      return write(...args);
    }) as typeof write;
    const err = await build(store).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as Error).message).toContain('RUN cat /data/a.txt');
    expect((err as Error).message).toContain('ENOSPC');
    expect(mountsUnder(join(work, 'failing'))).toEqual([]);
    expect(await workDirs(join(work, 'failing'))).toEqual([]);
  });

  it('let later stages use a stage whose layers are still being written, and commit them all at the end', async () => {
    const root = join(work, 'stages');
    const result = await build(await freshStore('stages'), STAGES);
    const ids = result.image.config.rootfs.diff_ids;
    expect(await imageFile(root, ids, 'c.txt')).toBe('a\nmore\n');
    expect(await imageFile(root, ids, 'b-seen')).toBe('a\nmore\na\nmore\n');
    expect(await imageFile(root, ids, 'mount-seen')).toBe('a\nmore\n');
    expect(await workDirs(root)).toEqual([]);
    expect(mountsUnder(root)).toEqual([]);
    const again = await build(await freshStore('stages'), STAGES);
    expect(again.executed).toBe(0);
    expect(again.image.descriptor.digest).toBe(result.image.descriptor.digest);
  });
});
