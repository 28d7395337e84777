import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import pLimit from 'p-limit';
import type { Descriptor } from '../image/descriptor.js';
import { type Digest, digestOf } from '../image/digest.js';
import { type AnyManifest, isIndex, parseManifest } from '../image/manifest.js';
import { isIndexMediaType, isManifestMediaType } from '../image/media-types.js';
import { formatPlatform, type Platform, platformMatches } from '../image/platform.js';
import type { BlobSources } from './blob-sources.js';
import type { FetchedManifest, OpenBlob, RegistryClient, RepoRef } from './client.js';
import { RegistryError } from './errors.js';
import type { OciLayout } from './oci-layout.js';
import { type Progress, silentProgress } from './progress.js';
import { fileRanges, type OpenChunks } from './file-chunks.js';
import { counted, verifying } from './verify.js';

/** Where an image's content comes from. */
export interface ImageSource {
  /** For messages: `localhost:5000/x`, `oci:/dir`, `local store`. */
  readonly name: string;
  /** The registry repository, when the source is one (enables cross-repository mounts). */
  readonly repo?: RepoRef;
  /** A manifest or index by tag (root only) or by descriptor; verified. */
  manifest(ref: string | Descriptor): Promise<FetchedManifest>;
  /** A blob's bytes, verified by the time the stream ends cleanly. Ranges only when `ranged`. */
  openBlob(desc: Descriptor): OpenBlob;
  /**
   * The same bytes without hashing them here, for a sink that verifies the digest itself (a
   * registry must refuse an upload whose content does not match): each byte is hashed once.
   */
  openUnverified?(desc: Descriptor): OpenChunks;
  /** The file holding those same unverified bytes, when there is one (sent with sendfile). */
  blobFile?(desc: Descriptor): string;
  readonly ranged: boolean;
}

/** Where an image's content goes. */
export interface ImageSink {
  readonly name: string;
  /** Sends one blob; resolves to a status line (`Pushed`, `Layer already exists`, `Mounted from x`). */
  putBlob(desc: Descriptor, open: OpenBlob, src: ImageSource, onBytes: (n: number) => void): Promise<string>;
  /** Stores a manifest; `tag` for the root, digest-addressed otherwise. */
  putManifest(desc: Descriptor, bytes: Buffer, tag?: string): Promise<void>;
}

export interface TransferOptions {
  concurrency?: number;
  progress?: Progress;
  /** Only this platform of an index (the index is then not copied: the platform manifest is the root). */
  platform?: Platform;
  /** Replaces a layer before sending (push: uncompressed store layers become gzip). */
  mapLayer?: (layer: Descriptor) => Promise<Descriptor>;
  signal?: AbortSignal;
}

/**
 * Copies an image graph from a source to a sink: blobs first (concurrently, each once), then
 * each manifest once its blobs are there, the root index last, so a reader of the destination
 * never sees a manifest whose content is missing. Returns the root as written.
 */
export async function transfer(src: ImageSource, sink: ImageSink, root: string | Descriptor, tag: string | undefined, opts: TransferOptions = {}): Promise<Descriptor> {
  const limit = pLimit(opts.concurrency ?? 4);
  const progress = opts.progress ?? silentProgress;
  const blobs = new Map<Digest, Promise<void>>();

  const sendBlob = (desc: Descriptor, showProgress: boolean): Promise<void> => {
    let p = blobs.get(desc.digest);
    if (!p) {
      p = limit(async () => {
        if (showProgress) progress.start(desc.digest, desc.size);
        const status = await sink.putBlob(desc, src.openBlob(desc), src, (n) => showProgress && progress.advance(desc.digest, n));
        if (showProgress) progress.done(desc.digest, status);
      });
      blobs.set(desc.digest, p);
    }
    return p;
  };

  const sendManifest = async (ref: string | Descriptor, rootTag: string | undefined, depth: number): Promise<Descriptor> => {
    if (depth > 3) throw new Error(`${src.name}: indexes nested too deep`);
    const fetched = await src.manifest(ref);
    const m = fetched.manifest;
    if (isIndex(m)) {
      if (opts.platform) {
        const chosen = m.manifests.find((d) => platformMatches(opts.platform!, d.platform));
        if (!chosen) throw new Error(`${src.name}: no manifest for ${formatPlatform(opts.platform)}`);
        return sendManifest(chosen, rootTag, depth + 1);
      }
      const children = await Promise.all(
        m.manifests.map(async (child) => {
          if (!isManifestMediaType(child.mediaType) && !isIndexMediaType(child.mediaType)) {
            await sendBlob(child, false);
            return child;
          }
          const sent = await sendManifest(child, undefined, depth + 1);
          return sent.digest === child.digest ? child : { ...child, digest: sent.digest, size: sent.size, mediaType: sent.mediaType };
        }),
      );
      const changed = children.some((c, i) => c !== m.manifests[i]);
      const bytes = changed ? rewrite(fetched.bytes, { manifests: children }) : fetched.bytes;
      const desc = describe(fetched, bytes);
      await sink.putManifest(desc, bytes, rootTag);
      return withPlatform(desc, ref);
    }
    let layers = m.layers;
    if (opts.mapLayer) layers = await Promise.all(m.layers.map((l) => opts.mapLayer!(l)));
    await Promise.all([sendBlob(m.config, false), ...layers.map((l) => sendBlob(l, true))]);
    const changed = layers.some((l, i) => l !== m.layers[i]);
    const bytes = changed ? rewrite(fetched.bytes, { layers }) : fetched.bytes;
    const desc = describe(fetched, bytes);
    await sink.putManifest(desc, bytes, rootTag);
    return withPlatform(desc, ref);
  };

  try {
    return await sendManifest(root, tag, 0);
  } finally {
    progress.close();
  }
}

function describe(fetched: FetchedManifest, bytes: Buffer): Descriptor {
  return bytes === fetched.bytes ? fetched.descriptor : { mediaType: fetched.descriptor.mediaType, digest: digestOf(bytes), size: bytes.length };
}

function withPlatform(desc: Descriptor, ref: string | Descriptor): Descriptor {
  return typeof ref !== 'string' && ref.platform ? { ...desc, platform: ref.platform } : desc;
}

/** Replaces top-level fields of a manifest's JSON, keeping everything else as it was. */
function rewrite(bytes: Buffer, fields: Record<string, unknown>): Buffer {
  const o = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  return Buffer.from(JSON.stringify({ ...o, ...fields }));
}

function verifiedManifest(bytes: Buffer, desc: Descriptor, where: string): FetchedManifest {
  const digest = digestOf(bytes, desc.digest.startsWith('sha512:') ? 'sha512' : 'sha256');
  if (digest !== desc.digest) throw new Error(`${where}: manifest ${desc.digest} has digest ${digest}`);
  let manifest: AnyManifest;
  try {
    manifest = parseManifest(bytes, desc.mediaType);
  } catch (e) {
    throw new Error(`${where}: manifest ${desc.digest}: ${(e as Error).message}`);
  }
  return { descriptor: { mediaType: manifest.mediaType, digest, size: bytes.length }, bytes, manifest };
}

/** Blobs from files on disk: the local store, or an OCI layout (same shape). */
export class FileSource implements ImageSource {
  readonly ranged = true;
  constructor(
    readonly name: string,
    private readonly blobs: { readBytes(d: Digest): Promise<Buffer>; path(d: Digest): string },
    private readonly resolveTag?: (tag: string) => Promise<Descriptor>,
  ) {}

  async manifest(ref: string | Descriptor): Promise<FetchedManifest> {
    const desc = typeof ref === 'string' ? await this.byTag(ref) : ref;
    return verifiedManifest(await this.blobs.readBytes(desc.digest), desc, this.name);
  }

  private byTag(tag: string): Promise<Descriptor> {
    if (!this.resolveTag) throw new Error(`${this.name}: cannot resolve ${tag}`);
    return this.resolveTag(tag);
  }

  openBlob(desc: Descriptor): OpenBlob {
    const file = this.blobs.path(desc.digest);
    // Whole-blob reads are verified on the way; ranges are checked by the registry when the
    // upload completes.
    return (range) => {
      if (range) return createReadStream(file, { start: range.start, end: range.end, highWaterMark: 1 << 20 });
      const s = createReadStream(file, { highWaterMark: 1 << 20 });
      const v = verifying(desc, `${this.name} blob`);
      s.on('error', (e) => v.destroy(e));
      v.on('close', () => s.destroy());
      return s.pipe(v);
    };
  }

  openUnverified(desc: Descriptor): OpenChunks {
    return fileRanges(this.blobs.path(desc.digest), desc.size);
  }

  blobFile(desc: Descriptor): string {
    return this.blobs.path(desc.digest);
  }
}

export function layoutSource(layout: OciLayout): FileSource {
  return new FileSource(`oci:${layout.dir}`, layout.blobs, (tag) => layout.resolve(tag || undefined));
}

/** Content from a registry repository, streamed and verified. */
export class RegistrySource implements ImageSource {
  readonly ranged = false;
  readonly name: string;
  constructor(
    private readonly client: RegistryClient,
    readonly repo: RepoRef,
    private readonly signal?: AbortSignal,
  ) {
    this.name = `${repo.registry}/${repo.repository}`;
  }

  manifest(ref: string | Descriptor): Promise<FetchedManifest> {
    return this.client.getManifest(this.repo, typeof ref === 'string' ? ref : ref.digest, this.signal ? { signal: this.signal } : {});
  }

  openBlob(desc: Descriptor): OpenBlob {
    return () => {
      const s = this.client.blobStream(this.repo, desc, this.signal ? { signal: this.signal } : {});
      const v = verifying(desc, `${this.name} blob`);
      s.on('error', (e) => v.destroy(e));
      v.on('close', () => s.destroy());
      return s.pipe(v);
    };
  }
}

/** A registry repository as destination: HEAD to skip, cross-repository mount, then upload. */
export class RegistrySink implements ImageSink {
  readonly name: string;
  constructor(
    private readonly client: RegistryClient,
    readonly repo: RepoRef,
    private readonly sources?: BlobSources,
    private readonly signal?: AbortSignal,
  ) {
    this.name = `${repo.registry}/${repo.repository}`;
  }

  async putBlob(desc: Descriptor, open: OpenBlob, src: ImageSource, onBytes: (n: number) => void): Promise<string> {
    const { client, repo, signal } = this;
    const sig = signal ? { signal } : {};
    if ((await client.headBlob(repo, desc.digest, { ...sig, push: true })) !== undefined) {
      await this.sources?.seen(repo.registry, repo.repository, desc.digest).catch(() => undefined);
      return 'Layer already exists';
    }
    const candidates = new Set<string>();
    if (src.repo && src.repo.registry === repo.registry && src.repo.repository !== repo.repository) candidates.add(src.repo.repository);
    for (const r of (await this.sources?.where(repo.registry, desc.digest).catch(() => [])) ?? []) if (r !== repo.repository) candidates.add(r);
    let location: string | undefined;
    for (const from of [...candidates].slice(0, 3)) {
      try {
        const mounted = await client.mountBlob(repo, desc.digest, from, signal);
        if (mounted === true) {
          await this.sources?.seen(repo.registry, repo.repository, desc.digest).catch(() => undefined);
          return `Mounted from ${from}`;
        }
        location = mounted;
        break;
      } catch (e) {
        // A refused mount (no pull access to `from`, say) just means uploading.
        if (!(e instanceof RegistryError)) throw e;
      }
    }
    // The registry verifies what it receives against the digest, so local bytes go up unhashed.
    const raw = src.openUnverified?.(desc);
    const file = raw && src.blobFile?.(desc);
    try {
      await client.uploadBlob(repo, desc, raw ?? open, { ...sig, ...(location ? { location } : {}), ...(src.ranged ? {} : { chunked: false }), ...(file ? { file } : {}), onBytes });
    } catch (e) {
      // Refused (or cut short): if the local copy is what is wrong, say so rather than blame the registry.
      if (raw && !signal?.aborted) await checkLocal(open, e);
      throw e;
    }
    await this.sources?.seen(repo.registry, repo.repository, desc.digest).catch(() => undefined);
    return 'Pushed';
  }

  async putManifest(desc: Descriptor, bytes: Buffer, tag?: string): Promise<void> {
    const digest = await this.client.putManifest(this.repo, tag ?? desc.digest, bytes, desc.mediaType, this.signal);
    if (digest !== desc.digest) throw new RegistryError(this.repo.registry, `manifest digest changed in transit: ${desc.digest} became ${digest}`);
  }
}

/**
 * Reads a local blob through its verifying stream after an upload failed; throws the local
 * error (corrupt or missing blob) when there is one, so the message names the real culprit.
 */
async function checkLocal(open: OpenBlob, uploadError: unknown): Promise<void> {
  if (uploadError instanceof RegistryError && uploadError.code !== undefined && !/^(DIGEST|SIZE|BLOB_UPLOAD)/.test(uploadError.code)) return;
  let local: unknown;
  try {
    const s = open();
    for await (const _ of s) {
      // reading is the check
    }
  } catch (e) {
    local = e;
  }
  if (local) throw local;
}

/** An OCI layout directory as destination. */
export class LayoutSink implements ImageSink {
  readonly name: string;
  constructor(
    private readonly layout: OciLayout,
    private readonly signal?: AbortSignal,
  ) {
    this.name = `oci:${layout.dir}`;
  }

  async putBlob(desc: Descriptor, open: OpenBlob, _src: ImageSource, onBytes: (n: number) => void): Promise<string> {
    if (await this.layout.blobs.has(desc.digest)) return 'Already exists';
    const stream: Readable = counted(open(), onBytes);
    await this.layout.blobs.write(stream, { digest: desc.digest, size: desc.size }, this.signal ? { signal: this.signal } : {});
    return 'Copied';
  }

  async putManifest(desc: Descriptor, bytes: Buffer, tag?: string): Promise<void> {
    await this.layout.blobs.writeBytes(bytes, { digest: desc.digest, size: desc.size });
    if (tag !== undefined) await this.layout.setRef(desc, tag || undefined);
  }
}
