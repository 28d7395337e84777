import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry } from '../../registry-server/server.js';
import type { CacheRecord } from '../../src/build/build-cache.js';
import type { CacheKey } from '../../src/build/cache-key.js';
import { executeBuild } from '../../src/build/executor.js';
import { MemoryRenderer, Progress } from '../../src/build/progress/index.js';
import { exportCache, openRemoteCache, parseCacheOption } from '../../src/build/remote-cache/index.js';
import { parse } from '../../src/dockerfile/parser.js';
import { planBuild } from '../../src/plan/planner.js';
import { RegistryClient } from '../../src/registry/client.js';
import { BUILD_CACHE_NAMESPACE, type Store } from '../../src/store/store.js';
import { makeBusybox } from '../registry/helpers.js';
import { storeWithBusybox } from './runtime-fixtures.js';

// A real build (runc + overlay, as root) exports its cache to a real registry on loopback; a
// second, empty store imports it and rebuilds without running a single step. The executor does
// not call the remote cache yet (see src/build/remote-cache/INTEGRATION.md), so this test plays
// its part through the public functions: every key the cache holds is looked up before the build,
// which is what the executor's per-step lookup on a local miss will do one key at a time.

const DOCKERFILE = `FROM busybox:latest AS tools
RUN echo tool > /tool.txt

FROM busybox:latest
COPY hello.txt /hello.txt
RUN cat /hello.txt > /copy.txt && echo built >> /copy.txt
COPY --from=tools /tool.txt /tool.txt
RUN ls / > /listing.txt
`;

let work: string;
let busybox: string;
let client: RegistryClient;
let registry: Awaited<ReturnType<typeof startRegistry>>;

function storeWithBase(name: string): Promise<Store> {
  return storeWithBusybox(join(work, name), busybox);
}

async function build(store: Store, context: string) {
  const renderer = new MemoryRenderer();
  const graph = planBuild(parse(DOCKERFILE, { file: 'Dockerfile' }));
  const result = await executeBuild({ store, graph, contextDir: context, progress: new Progress(renderer) });
  const ran = renderer.events.filter((e) => e.type === 'start').map((e) => (e as { name: string }).name);
  return { result, ran };
}

/** Every step record of a store's build cache (what the executor will hand to exportCache). */
async function localRecords(store: Store): Promise<[CacheKey, CacheRecord][]> {
  const out: [CacheKey, CacheRecord][] = [];
  for await (const e of store.kv(BUILD_CACHE_NAMESPACE).entries<CacheRecord>()) if (/^sha256:[a-f0-9]{64}$/.test(e.key)) out.push([e.key as CacheKey, e.value]);
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tsbuild-remote-cache-e2e-'));
  busybox = join(work, 'busybox');
  makeBusybox(busybox);
  registry = await startRegistry({ addr: '127.0.0.1:0', root: join(work, 'registry') });
  client = new RegistryClient();
}, 60_000);

afterAll(async () => {
  await client?.close();
  await registry?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a cold store builds from a registry cache', () => {
  it('runs no RUN step and gives the same image', async () => {
    const context = join(work, 'ctx');
    await mkdir(context);
    await writeFile(join(context, 'hello.txt'), 'hello from the context\n');

    const first = await storeWithBase('machine-a');
    const cold = await build(first, context);
    expect(cold.result.executed).toBeGreaterThanOrEqual(4);
    expect(cold.ran.filter((n) => n.includes(' RUN ')).length).toBe(3);
    const records = await localRecords(first);
    expect(records.length).toBe(cold.result.executed);
    const exported = await exportCache(first, parseCacheOption(`type=registry,ref=${registry.host}/ci/cache:main,mode=max`, 'to'), records, { client });
    expect(exported.records).toBe(records.length);

    // Another machine: base image only, empty build cache.
    const second = await storeWithBase('machine-b');
    const warnings: string[] = [];
    const remote = await openRemoteCache(parseCacheOption(`${registry.host}/ci/cache:main`, 'from'), { client, store: second, warn: (m) => warnings.push(m) });
    expect(remote.size).toBe(records.length);
    for (const k of remote.keys()) expect(await remote.lookup(k), k).toBeDefined();
    expect(warnings).toEqual([]);

    const warm = await build(second, context);
    expect(warm.ran.filter((n) => n.includes(' RUN '))).toEqual([]);
    expect(warm.result.executed).toBe(0);
    expect(warm.result.cached).toBe(cold.result.cached + cold.result.executed);
    expect(warm.result.image.descriptor.digest).toBe(cold.result.image.descriptor.digest);
  }, 120_000);
});
