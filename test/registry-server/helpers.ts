import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RegistryOptions, type RunningRegistry, startRegistry } from '../../registry-server/server.js';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');

export function sha256(data: Uint8Array | string): `sha256:${string}` {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  json: () => any;
}

/** One HTTP request with full control of headers (fetch refuses to send a wrong Content-Length). */
export function http(method: string, url: string, opts: { headers?: Record<string, string | number>; body?: Uint8Array | string; ca?: string } = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const fn = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers: Record<string, string | number> = { ...(opts.headers ?? {}) };
    if (opts.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length' || h.toLowerCase() === 'transfer-encoding')) {
      headers['Content-Length'] = Buffer.byteLength(opts.body);
    }
    const r = fn(u, { method, headers, agent: false, ...(opts.ca ? { ca: opts.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    r.on('error', reject);
    if (opts.body !== undefined) r.end(opts.body);
    else r.end();
  });
}

/** The spec's error code of a response, or undefined. */
export function errorCode(r: Response): string | undefined {
  try {
    return r.json().errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

export async function tempDir(prefix = 'tsbuild-registry-test-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

export interface TestRegistry extends RunningRegistry {
  root: string;
  logs: string[];
  stop: () => Promise<void>;
}

/** A registry on an ephemeral loopback port over a fresh temp directory. */
export async function testRegistry(opts: Partial<RegistryOptions> = {}): Promise<TestRegistry> {
  const dir = await tempDir();
  const logs: string[] = [];
  const root = opts.root ?? join(dir.path, 'storage');
  const reg = await startRegistry({ addr: '127.0.0.1:0', root, log: (l) => logs.push(l), ...opts });
  return {
    ...reg,
    root,
    logs,
    stop: async () => {
      await reg.close();
      await dir.cleanup();
    },
  };
}

/** Monolithic push of a blob; returns its digest. */
export async function pushBlob(base: string, repo: string, data: Uint8Array | string): Promise<`sha256:${string}`> {
  const d = sha256(data);
  const r = await http('POST', `${base}/v2/${repo}/blobs/uploads/?digest=${d}`, { body: data, headers: { 'Content-Type': 'application/octet-stream' } });
  if (r.status !== 201) throw new Error(`push blob: ${r.status} ${r.text}`);
  return d;
}

/** An image manifest over a config and layers already pushed (or to be pushed). */
export function imageManifest(config: string, layers: string[], extra: Record<string, unknown> = {}): { bytes: Buffer; digest: `sha256:${string}` } {
  const m = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: Buffer.byteLength(config) },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(l), size: Buffer.byteLength(l) })),
    ...extra,
  };
  const bytes = Buffer.from(JSON.stringify(m));
  return { bytes, digest: sha256(bytes) };
}

/** Pushes config, layers and the manifest under `tag`. */
export async function pushImage(base: string, repo: string, tag: string, seed: string): Promise<{ digest: `sha256:${string}`; config: string; layers: string[] }> {
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed });
  const layers = [`layer-a-${seed}`, `layer-b-${seed}`];
  for (const b of [config, ...layers]) await pushBlob(base, repo, b);
  const m = imageManifest(config, layers);
  const r = await http('PUT', `${base}/v2/${repo}/manifests/${tag}`, { body: m.bytes, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (r.status !== 201) throw new Error(`push manifest: ${r.status} ${r.text}`);
  return { digest: m.digest, config, layers };
}

let busybox: { dir: string; digest: string } | undefined;
/** The deterministic busybox OCI layout from testdata, made once per test file. */
export function busyboxLayout(into: string): { dir: string; digest: string } {
  if (busybox) return busybox;
  const dir = join(into, 'busybox-oci');
  const digest = execFileSync('bash', [join(REPO_ROOT, 'testdata', 'make-busybox-image.sh'), dir], { encoding: 'utf8' }).trim();
  busybox = { dir, digest };
  return busybox;
}

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
