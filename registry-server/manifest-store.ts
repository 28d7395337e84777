import { createHash } from 'node:crypto';
import type { Descriptor } from '../src/image/descriptor.js';
import { type Digest, isDigest, parseDigest } from '../src/image/digest.js';
import { ImageFormatError } from '../src/image/errors.js';
import { type AnyManifest, isIndex, parseManifest } from '../src/image/manifest.js';
import { MediaType } from '../src/image/media-types.js';
import type { RepoBlobStore } from './blob-store.js';
import { RegistryHttpError } from './errors.js';
import { referrerPath, referrersPath, revisionLinkPath, revisionTypePath, tagLinkPath, tagsPath } from './layout.js';
import { isNotFound, type StorageDriver } from './storage/driver.js';

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  content: Buffer;
}

export interface PutResult {
  digest: Digest;
  subject?: Digest;
}

/** Manifests by digest (revisions), tags pointing at them, and the referrers index of subjects. */
export class ManifestStore {
  /** Manifests are immutable by digest, so verified ones are kept (bounded) for repeated pulls. */
  private readonly cache = new Map<string, { content: Buffer; mediaType: string }>();
  private cacheBytes = 0;
  private static readonly CACHE_LIMIT = 32 << 20;

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: RepoBlobStore,
  ) {}

  private unknown(ref: string): RegistryHttpError {
    return new RegistryHttpError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference: ref });
  }

  private async readLink(path: string): Promise<Digest | undefined> {
    try {
      const v = (await this.driver.getContent(path)).toString('utf8').trim();
      return isDigest(v) ? v : undefined;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async resolve(repo: string, ref: string): Promise<Digest | undefined> {
    if (isDigest(ref)) return (await this.readLink(revisionLinkPath(repo, ref))) ? ref : undefined;
    return this.readLink(tagLinkPath(repo, ref));
  }

  async get(repo: string, ref: string): Promise<StoredManifest> {
    const d = await this.resolve(repo, ref);
    if (!d) throw this.unknown(ref);
    const hit = this.cache.get(`${repo}@${d}`);
    if (hit) return { digest: d, ...hit };
    let content: Buffer;
    try {
      content = await this.blobs.readSmall(d);
    } catch (e) {
      if (isNotFound(e)) throw this.unknown(ref);
      throw e;
    }
    const { algorithm, hex } = parseDigest(d);
    if (createHash(algorithm).update(content).digest('hex') !== hex) throw new Error(`stored manifest ${d} is corrupt`);
    let mediaType = MediaType.OciManifest as string;
    try {
      mediaType = (await this.driver.getContent(revisionTypePath(repo, d))).toString('utf8');
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    this.remember(`${repo}@${d}`, content, mediaType);
    return { digest: d, mediaType, content };
  }

  private remember(key: string, content: Buffer, mediaType: string): void {
    this.cache.set(key, { content, mediaType });
    this.cacheBytes += content.length;
    for (const [k, v] of this.cache) {
      if (this.cacheBytes <= ManifestStore.CACHE_LIMIT) break;
      this.cache.delete(k);
      this.cacheBytes -= v.content.length;
    }
  }

  /**
   * Stores a manifest under `ref` (a tag, or a digest it must match) and points every tag of
   * `extraTags` at it too (the `?tag=` parameters of a push by digest).
   */
  async put(repo: string, ref: string, content: Buffer, contentType: string | undefined, extraTags: string[] = []): Promise<PutResult> {
    let m: AnyManifest;
    try {
      m = parseManifest(content, contentType?.split(';')[0]?.trim() || undefined);
    } catch (e) {
      if (e instanceof ImageFormatError) throw new RegistryHttpError('MANIFEST_INVALID', `manifest invalid: ${e.message}`);
      throw e;
    }
    const algorithm = isDigest(ref) ? parseDigest(ref).algorithm : 'sha256';
    const d: Digest = `${algorithm}:${createHash(algorithm).update(content).digest('hex')}`;
    if (isDigest(ref) && ref !== d) {
      throw new RegistryHttpError('DIGEST_INVALID', 'manifest digest did not match the reference', { expected: ref, actual: d });
    }
    await this.checkReferences(repo, m);
    await this.blobs.putSmall(d, content);
    await this.driver.putContent(revisionTypePath(repo, d), Buffer.from(m.mediaType));
    await this.driver.putContent(revisionLinkPath(repo, d), Buffer.from(d));
    if (m.subject) {
      await this.driver.putContent(referrerPath(repo, m.subject.digest, d), Buffer.from(JSON.stringify(referrerDescriptor(m, d, content.length))));
    }
    // Tags last: a tag never names a manifest that is not fully stored.
    for (const tag of isDigest(ref) ? extraTags : [ref, ...extraTags]) await this.driver.putContent(tagLinkPath(repo, tag), Buffer.from(d));
    return { digest: d, ...(m.subject ? { subject: m.subject.digest } : {}) };
  }

  /** Every blob and child manifest a manifest names must already be in the repository. */
  private async checkReferences(repo: string, m: AnyManifest): Promise<void> {
    const refs: Descriptor[] = isIndex(m) ? m.manifests : [m.config, ...m.layers.filter((l) => !l.urls?.length)];
    for (const r of refs) {
      const size = await this.blobs.stat(repo, r.digest);
      if (size === undefined) {
        throw new RegistryHttpError('MANIFEST_BLOB_UNKNOWN', `manifest references ${r.digest}, which is not in ${repo}`, { digest: r.digest });
      }
      if (!isIndex(m) && size !== r.size) {
        throw new RegistryHttpError('MANIFEST_INVALID', `descriptor of ${r.digest} says ${r.size} bytes, the blob has ${size}`, { digest: r.digest });
      }
      await this.blobs.touch(r.digest);
    }
  }

  async delete(repo: string, ref: string): Promise<void> {
    if (!isDigest(ref)) {
      if (!(await this.readLink(tagLinkPath(repo, ref)))) throw this.unknown(ref);
      await this.driver.delete(`${tagsPath(repo)}/${ref}`);
      return;
    }
    if (!(await this.readLink(revisionLinkPath(repo, ref)))) throw this.unknown(ref);
    try {
      const m = parseManifest(await this.blobs.readSmall(ref));
      if (m.subject) await this.driver.delete(referrerPath(repo, m.subject.digest, ref));
    } catch (e) {
      if (!isNotFound(e) && !(e instanceof ImageFormatError)) throw e;
    }
    for (const tag of await this.tags(repo)) {
      if ((await this.readLink(tagLinkPath(repo, tag))) === ref) await this.driver.delete(`${tagsPath(repo)}/${tag}`);
    }
    await this.driver.delete(revisionLinkPath(repo, ref).replace(/\/link$/, ''));
  }

  async tags(repo: string): Promise<string[]> {
    return (await this.driver.list(tagsPath(repo))).sort();
  }

  async referrers(repo: string, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    for (const name of await this.driver.list(referrersPath(repo, subject))) {
      let desc: Descriptor;
      try {
        desc = JSON.parse((await this.driver.getContent(`${referrersPath(repo, subject)}/${name}`)).toString('utf8')) as Descriptor;
      } catch (e) {
        if (isNotFound(e)) continue;
        throw e;
      }
      if (artifactType !== undefined && desc.artifactType !== artifactType) continue;
      out.push(desc);
    }
    return out;
  }
}

/** The descriptor the referrers API lists for a manifest with a subject. */
function referrerDescriptor(m: AnyManifest, d: Digest, size: number): Descriptor {
  const artifactType = m.artifactType ?? (isIndex(m) ? undefined : m.config.mediaType);
  return {
    mediaType: m.mediaType,
    digest: d,
    size,
    ...(artifactType ? { artifactType } : {}),
    ...(m.annotations ? { annotations: m.annotations } : {}),
  };
}
