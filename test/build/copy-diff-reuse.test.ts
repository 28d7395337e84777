import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeBuild } from '../../src/build/executor.js';
import { MemoryRenderer, Progress } from '../../src/build/progress/index.js';
import { parse } from '../../src/dockerfile/parser.js';
import type { Digest } from '../../src/image/digest.js';
import { planBuild } from '../../src/plan/planner.js';
import type { Store } from '../../src/store/store.js';
import { makeBusybox } from '../registry/helpers.js';
import { storeWithBusybox } from './runtime-fixtures.js';

// Real builds (runc + overlay, as root). A COPY whose parent changed takes the layer an earlier
// build made for the same files when the parent cannot shape the diff; the image must be exactly
// the one a build from an empty cache gives, and where the parent does shape the diff (an
// ancestor's mode, a destination that exists) the copy must run again.

// The mode is written into the RUN, not passed as a build arg: an argument in scope is part of
// every later step's key, and would make the copies run again for the wrong reason.
const dockerfileWith = (mode: string) => `FROM busybox:latest
COPY a.txt /data/a.txt
RUN mkdir -p /srv && chmod ${mode} /srv
COPY big.bin /srv/app/big.bin
COPY tree/ /srv/app/tree/
RUN ls -lR /srv > /listing.txt
`;

let work: string;
let busybox: string;
let context: string;

function freshStore(name: string): Promise<Store> {
  return storeWithBusybox(join(work, name), busybox);
}

/** Builds, noting the digest of every blob the build writes into the store. */
async function build(store: Store, dockerfile = dockerfileWith('755')) {
  const written: Digest[] = [];
  const write = store.blobs.write.bind(store.blobs);
  store.blobs.write = async (...a: Parameters<typeof write>) => {
    const info = await write(...a);
    written.push(info.digest);
    return info;
  };
  const graph = planBuild(parse(dockerfile, { file: 'Dockerfile' }), {});
  const result = await executeBuild({ store, graph, contextDir: context, progress: new Progress(new MemoryRenderer()), sourceDateEpoch: 1_700_000_000 });
  store.blobs.write = write;
  return { ...result, written };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tsbuild-copy-diff-'));
  busybox = join(work, 'busybox');
  makeBusybox(busybox);
  context = join(work, 'ctx');
  await mkdir(join(context, 'tree', 'sub'), { recursive: true });
  await writeFile(join(context, 'a.txt'), 'a\n');
  await writeFile(join(context, 'big.bin'), randomBytes(3 << 20));
  await writeFile(join(context, 'tree', 'one'), '1\n');
  await writeFile(join(context, 'tree', 'sub', 'two'), '2\n');
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('COPY layers reused across parents', () => {
  it('takes the earlier layers after an edit above them, and gives the image an empty cache gives', async () => {
    const store = await freshStore('reuse');
    const first = await build(store);
    expect(first.executed).toBe(5);
    const [, , copyBig, copyTree] = first.image.config.rootfs.diff_ids.slice(-5);

    await writeFile(join(context, 'a.txt'), 'edited\n');
    const second = await build(store);
    const ids = second.image.config.rootfs.diff_ids;
    // Every step after the edit missed the step cache, but the two copies wrote nothing.
    expect(second.executed).toBe(5);
    expect(ids).toContain(copyBig);
    expect(ids).toContain(copyTree);
    expect(second.written).not.toContain(copyBig);
    expect(second.written).not.toContain(copyTree);

    const fresh = await build(await freshStore('reuse-fresh'));
    expect(second.image.descriptor.digest).toBe(fresh.image.descriptor.digest);
    await writeFile(join(context, 'a.txt'), 'a\n');
  });

  it('copies again when an ancestor of the destination differs', async () => {
    const store = await freshStore('ancestor');
    const first = await build(store);
    const second = await build(store, dockerfileWith('700'));
    const layers = (r: typeof first) => r.image.config.rootfs.diff_ids.slice(-3, -1);
    for (const id of layers(second)) {
      expect(layers(first)).not.toContain(id);
      expect(second.written).toContain(id);
    }
    const fresh = await build(await freshStore('ancestor-fresh'), dockerfileWith('700'));
    expect(second.image.descriptor.digest).toBe(fresh.image.descriptor.digest);
  });

  it('copies again when the destination already exists in the parent', async () => {
    const dockerfile = (dirs: string) => `FROM busybox:latest
RUN mkdir -p ${dirs}
COPY tree/ /srv/app/tree/
`;
    // Both times the destination is there, with something in it the copy merges into; the
    // second time with another mode, which the copy keeps.
    const store = await freshStore('exists');
    const first = await build(store, dockerfile('/srv/app/tree/old'));
    const existing = dockerfile('/srv/app/tree/old && chmod 700 /srv/app/tree');
    const second = await build(store, existing);
    const last = (r: typeof first) => r.image.config.rootfs.diff_ids.at(-1)!;
    expect(last(second)).not.toBe(last(first));
    expect(second.written).toContain(last(second));
    const fresh = await build(await freshStore('exists-fresh'), existing);
    expect(second.image.descriptor.digest).toBe(fresh.image.descriptor.digest);
  });
});
