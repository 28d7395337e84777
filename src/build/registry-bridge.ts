import type { Descriptor } from '../image/descriptor.js';
import { compressedLayer } from '../image/layer/compressed-layer.js';
import { parseReference } from '../image/reference.js';
import type { Store } from '../store/store.js';
import { RegistryClient } from '../registry/client.js';
import { StoreBlobSources } from '../registry/blob-sources.js';
import { DockerConfigCredentials } from '../registry/credentials.js';
import { pull } from '../registry/pull.js';
import { push, pushSummary } from '../registry/push.js';

/** FROM an image that is not in the store: pulled with the registry client (docker's credentials). */
export async function pullImage(store: Store, ref: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<void> {
  const client = new RegistryClient({ credentials: new DockerConfigCredentials({ env }) });
  try {
    // Where the base's blobs came from: a later push to another repository of that registry mounts them.
    await pull(client, store, parseReference(ref), { sources: blobSources(store), ...(signal ? { signal } : {}) });
  } finally {
    await client.close();
  }
}

/** `--push`: the built image to the registry its name points at; returns docker's summary line. */
export async function pushImage(store: Store, local: string, name: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<string> {
  const client = new RegistryClient({ credentials: new DockerConfigCredentials({ env }) });
  try {
    // The store keeps build layers uncompressed; registries get gzip, made once and memoised.
    const mapLayer = (layer: Descriptor) => compressedLayer(store, layer, 'gzip', signal ? { signal } : {});
    return pushSummary(await push(client, store, local, parseReference(name), { mapLayer, sources: blobSources(store), ...(signal ? { signal } : {}) }));
  } finally {
    await client.close();
  }
}

/** The store's record of which registry repositories hold which blobs (shared with pull/push). */
function blobSources(store: Store): StoreBlobSources {
  return new StoreBlobSources(store.kv('registry-blob-sources'));
}
