import type { Readable } from 'node:stream';
import type { Digest } from '../src/image/digest.js';
import { blobDataPath, layerLinkPath, revisionLinkPath } from './layout.js';
import { isNotFound, type StorageDriver } from './storage/driver.js';

/**
 * Blobs as repositories see them: the bytes live once under /blobs, and a repository may serve a
 * blob only if it holds a link to it (pushed there, mounted there, or one of its manifests).
 */
export class RepoBlobStore {
  constructor(private readonly driver: StorageDriver) {}

  /** Size of a blob this repository may serve, or undefined. */
  async stat(repo: string, d: Digest): Promise<number | undefined> {
    if (!(await this.linked(repo, d))) return undefined;
    return this.globalSize(d);
  }

  async globalSize(d: Digest): Promise<number | undefined> {
    try {
      return (await this.driver.stat(blobDataPath(d))).size;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async linked(repo: string, d: Digest): Promise<boolean> {
    for (const p of [layerLinkPath(repo, d), revisionLinkPath(repo, d)]) {
      try {
        await this.driver.stat(p);
        return true;
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    return false;
  }

  open(d: Digest, range?: { start: number; end: number }): Promise<Readable> {
    return this.driver.reader(blobDataPath(d), range);
  }

  /** The blob's file on the local filesystem, when the driver keeps one. */
  localFile(d: Digest): string | undefined {
    return this.driver.localFile?.(blobDataPath(d));
  }

  async link(repo: string, d: Digest): Promise<void> {
    await this.driver.putContent(layerLinkPath(repo, d), Buffer.from(d));
  }

  /** Removes the repository's link; the bytes stay until garbage collection finds them unused. */
  async unlink(repo: string, d: Digest): Promise<boolean> {
    try {
      await this.driver.stat(layerLinkPath(repo, d));
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
    await this.driver.delete(layerLinkPath(repo, d).replace(/\/link$/, ''));
    return true;
  }

  /** Marks a blob as in use now, so a concurrent garbage collection spares it. */
  async touch(d: Digest): Promise<void> {
    try {
      await this.driver.touch(blobDataPath(d));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /**
   * Makes verified bytes at `source` the blob `d`. When the blob already exists (a concurrent push
   * of the same content), the existing bytes are identical by definition and the source is dropped.
   */
  async commit(source: string, d: Digest): Promise<void> {
    if ((await this.globalSize(d)) !== undefined) {
      await this.driver.delete(source);
      await this.touch(d);
      return;
    }
    await this.driver.move(source, blobDataPath(d));
  }

  /** Small verified-elsewhere content (manifests) written straight to the blob store. */
  async putSmall(d: Digest, bytes: Uint8Array): Promise<void> {
    if ((await this.globalSize(d)) !== undefined) return this.touch(d);
    await this.driver.putContent(blobDataPath(d), bytes);
  }

  async readSmall(d: Digest): Promise<Buffer> {
    return this.driver.getContent(blobDataPath(d));
  }
}
