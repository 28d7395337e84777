import { resolve } from 'node:path';
import type { Descriptor } from '../image/descriptor.js';
import type { Platform } from '../image/platform.js';
import { formatReference, parseReference, type Reference } from '../image/reference.js';
import type { BlobSources } from './blob-sources.js';
import type { RegistryClient } from './client.js';
import { OciLayout } from './oci-layout.js';
import type { Progress } from './progress.js';
import { type ImageSink, type ImageSource, LayoutSink, layoutSource, RegistrySink, RegistrySource, transfer } from './transfer.js';

/** One end of a copy: a registry reference, or an OCI layout directory with an optional tag. */
export type ImageLocation = { kind: 'registry'; ref: Reference } | { kind: 'oci'; dir: string; tag?: string };

/** `oci:DIR[:TAG]`, `docker://NAME` (as skopeo writes it) or a plain image reference. */
export function parseLocation(text: string): ImageLocation {
  if (text.startsWith('oci:')) {
    const rest = text.slice(4);
    const colon = rest.lastIndexOf(':');
    const slash = rest.lastIndexOf('/');
    if (colon > slash && colon > 0) return { kind: 'oci', dir: resolve(rest.slice(0, colon)), tag: rest.slice(colon + 1) };
    if (!rest) throw new Error(`invalid location ${JSON.stringify(text)}: oci: needs a directory`);
    return { kind: 'oci', dir: resolve(rest) };
  }
  const name = text.startsWith('docker://') ? text.slice('docker://'.length) : text;
  return { kind: 'registry', ref: parseReference(name) };
}

export function formatLocation(l: ImageLocation): string {
  return l.kind === 'oci' ? `oci:${l.dir}${l.tag ? `:${l.tag}` : ''}` : formatReference(l.ref);
}

export interface CopyOptions {
  concurrency?: number;
  progress?: Progress;
  sources?: BlobSources;
  /** Copy only this platform of a multi-platform image (by default, all of them). */
  platform?: Platform;
  signal?: AbortSignal;
}

/**
 * Copies an image between registries and OCI layouts, streaming blob by blob without the local
 * store; each blob is verified on the way. Between repositories of one registry, blobs are mounted.
 */
export async function copyImage(client: RegistryClient, from: ImageLocation, to: ImageLocation, opts: CopyOptions = {}): Promise<Descriptor> {
  let source: ImageSource;
  let root: string | Descriptor;
  if (from.kind === 'registry') {
    source = new RegistrySource(client, from.ref, opts.signal);
    root = from.ref.digest ?? from.ref.tag ?? 'latest';
  } else {
    const layout = new OciLayout(from.dir);
    source = layoutSource(layout);
    root = await layout.resolve(from.tag);
  }
  let sink: ImageSink;
  let tag: string | undefined;
  if (to.kind === 'registry') {
    sink = new RegistrySink(client, to.ref, opts.sources, opts.signal);
    tag = to.ref.tag;
  } else {
    const layout = new OciLayout(to.dir);
    await layout.init();
    sink = new LayoutSink(layout, opts.signal);
    // An untagged layout entry is still an entry: '' asks the sink to record it.
    tag = to.tag ?? '';
  }
  const sent = await transfer(source, sink, root, tag, {
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
    ...(opts.platform ? { platform: opts.platform } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (to.kind === 'registry' && to.ref.digest && to.ref.digest !== sent.digest) {
    throw new Error(`copied to ${formatReference(to.ref)} but the image's digest is ${sent.digest}`);
  }
  return sent;
}
