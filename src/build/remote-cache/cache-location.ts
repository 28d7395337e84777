import { mkdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Descriptor } from '../../image/descriptor.js';
import type { OpenBlob, RegistryClient } from '../../registry/client.js';
import { RegistryError } from '../../registry/errors.js';
import { LayoutError, OciLayout } from '../../registry/oci-layout.js';
import { type ImageSink, type ImageSource, LayoutSink, layoutSource, RegistrySink, RegistrySource } from '../../registry/transfer.js';
import type { CacheSpec } from './cache-spec.js';
import { describeCache } from './cache-spec.js';

/**
 * Where a cache lives, in the registry client's own terms: an ImageSource to read it (a registry
 * repository, or an OCI layout) and an ImageSink to write it, so both kinds share the verified
 * transfer code (HEAD-before-upload, atomic layout writes, digest checks) with push and copy.
 */
export interface CacheLocation {
  readonly name: string;
  /** The tag the cache manifest is read from or written to (a digest for `ref=x@sha256:...`). */
  readonly ref: string;
  /** Whether `ref` is a digest (pinned: read only). */
  readonly pinned: boolean;
  source(signal?: AbortSignal): ImageSource;
  /** Prepares the destination (creates the layout) and returns its sink. */
  sink(signal?: AbortSignal): Promise<ImageSink>;
}

export function cacheLocation(spec: CacheSpec, use: 'to' | 'from', client: RegistryClient | undefined): CacheLocation {
  const name = describeCache(spec, use);
  if (spec.type === 'registry') {
    if (!client) throw new Error(`cache ${name}: a registry client is needed for type=registry`);
    const ref = spec.ref;
    return {
      name,
      ref: ref.digest ?? ref.tag ?? 'latest',
      pinned: !!ref.digest,
      source: (signal) => new RegistrySource(client, ref, signal),
      sink: async (signal) => new RegistrySink(client, ref, undefined, signal),
    };
  }
  const dir = use === 'to' ? spec.dest : spec.src;
  if (!dir) throw new Error(`cache ${name}: type=local needs ${use === 'to' ? 'dest' : 'src'}=DIR`);
  const layout = new OciLayout(dir);
  return {
    name,
    ref: spec.tag,
    pinned: false,
    source: () => layoutSource(layout),
    sink: async (signal) => {
      await mkdir(dir, { recursive: true });
      await layout.init();
      return new LayoutSink(layout, signal);
    },
  };
}

/** True when the error only says the cache is not there (yet): a miss, not a failure. */
export function isNotFound(e: unknown): boolean {
  if (e instanceof RegistryError) return e.status === 404 || e.code === 'MANIFEST_UNKNOWN' || e.code === 'NAME_UNKNOWN';
  if (e instanceof LayoutError) return true;
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** Bytes in memory served as a blob (whole or a range), for the small config blob. */
export function bufferBlob(bytes: Buffer): OpenBlob {
  return (range) => Readable.from([range ? bytes.subarray(range.start, range.end + 1) : bytes]);
}

/** Reads a small blob whole through a source (verified by the source), refusing more than `max` bytes. */
export async function readSmallBlob(source: ImageSource, desc: Descriptor, max: number): Promise<Buffer> {
  if (desc.size > max) throw new Error(`blob ${desc.digest} is ${desc.size} bytes, more than the ${max} allowed`);
  const parts: Buffer[] = [];
  let n = 0;
  const stream = source.openBlob(desc)();
  for await (const c of stream as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) {
      stream.destroy();
      throw new Error(`blob ${desc.digest} is more than ${max} bytes`);
    }
    parts.push(c);
  }
  return Buffer.concat(parts);
}
