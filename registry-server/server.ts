import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { Authorizer, type AuthMode } from './auth.js';
import { RepoBlobStore } from './blob-store.js';
import { listRepositoryDirs } from './catalog.js';
import { Htpasswd } from './htpasswd.js';
import { ManifestStore } from './manifest-store.js';
import { RegistryApp } from './routes.js';
import type { StorageDriver } from './storage/driver.js';
import { FilesystemDriver } from './storage/fs-driver.js';
import { TokenIssuer } from './token.js';
import { loadTokenSecret } from './token-secret.js';
import { UploadStore } from './upload-store.js';

export interface RegistryOptions {
  /** `host:port`; port 0 picks a free one. Default 127.0.0.1:5000. */
  addr?: string;
  /** Storage directory (filesystem driver), unless `driver` is given. */
  root: string;
  /** Another storage driver (e.g. the in-memory one in tests). */
  driver?: StorageDriver;
  /** Path of an htpasswd file with bcrypt entries. */
  htpasswd?: string;
  /** Default: 'basic' with an htpasswd file, else 'none'. */
  auth?: AuthMode;
  /**
   * `mount=` without a usable `from` mounts the blob when it is in any repository the client may
   * pull (the spec's optional automatic content discovery). Default true.
   */
  automaticMount?: boolean;
  readOnly?: boolean;
  /** PEM contents, or paths of PEM files. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Receives one JSON line per request, plus lifecycle messages. */
  log?: (line: string) => void;
  /** Largest manifest accepted (413 SIZE_INVALID beyond). Default 4 MiB. */
  maxManifestBytes?: number;
  /** Upload sessions idle this long are deleted. Default 1 hour. */
  uploadTtlMs?: number;
  /** A request whose connection stays silent this long is dropped (stalled uploads). Default 5 min. */
  idleTimeoutMs?: number;
  /** How long `close` waits for in-flight requests before cutting connections. Default 30 s. */
  shutdownTimeoutMs?: number;
}

export interface RunningRegistry {
  /** `http://127.0.0.1:PORT` (https with TLS). */
  url: string;
  /** `127.0.0.1:PORT`, as image references name it. */
  host: string;
  /** Stops accepting, lets in-flight requests (uploads included) finish, then resolves. */
  close(): Promise<void>;
}

function pem(v: string | Buffer): string | Buffer {
  return typeof v === 'string' && !v.includes('-----BEGIN') ? readFileSync(v) : v;
}

function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`invalid listen address ${JSON.stringify(addr)}: expected HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid port in ${JSON.stringify(addr)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Starts the bundled OCI registry; resolves once it is listening. */
export async function startRegistry(opts: RegistryOptions): Promise<RunningRegistry> {
  const { host, port } = parseAddr(opts.addr ?? '127.0.0.1:5000');
  const log = opts.log ?? (() => undefined);
  const driver = opts.driver ?? new FilesystemDriver(opts.root);
  const users = opts.htpasswd ? await Htpasswd.load(opts.htpasswd) : undefined;
  const mode: AuthMode = opts.auth ?? (users ? 'basic' : 'none');
  // Token mode signs with a key kept under the root, so tokens survive a restart.
  const auth = new Authorizer(mode, users, mode === 'token' ? new TokenIssuer(await loadTokenSecret(opts.root)) : undefined);
  const blobs = new RepoBlobStore(driver);
  const uploads = new UploadStore(driver, blobs);
  const manifests = new ManifestStore(driver, blobs);
  const app = new RegistryApp({ driver, blobs, uploads, manifests, auth, readOnly: opts.readOnly ?? false, automaticMount: opts.automaticMount ?? true, maxManifestBytes: opts.maxManifestBytes ?? 4 << 20 });
  const scheme = opts.tls ? 'https' : 'http';

  let inFlight = 0;
  let closing = false;
  let drained: (() => void) | undefined;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    const started = process.hrtime.bigint();
    const baseUrl = `${scheme}://${req.headers.host ?? `${host}:${port}`}`;
    if (closing) res.setHeader('Connection', 'close');
    void app.handle(req, res, baseUrl).then((outcome) => {
      const done = () => {
        inFlight--;
        log(
          JSON.stringify({
            time: new Date().toISOString(),
            remote: req.socket.remoteAddress,
            method: req.method,
            uri: req.url,
            status: res.statusCode,
            ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
            ...(outcome.user ? { user: outcome.user } : {}),
            ...(outcome.error ? { error: outcome.error } : {}),
          }),
        );
        if (closing) {
          server.closeIdleConnections();
          if (inFlight === 0) drained?.();
        }
      };
      if (res.writableFinished || res.destroyed) done();
      else res.once('close', done);
    });
  };
  const server: Server = opts.tls ? createHttpsServer({ cert: pem(opts.tls.cert), key: pem(opts.tls.key) }, handler) : createHttpServer(handler);
  // Big uploads take long: no overall request deadline, but a silent connection is dropped.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 30_000;
  const idle = opts.idleTimeoutMs ?? 5 * 60_000;
  server.on('connection', (s: Socket) => s.setTimeout(idle, () => s.destroy()));
  server.on('clientError', (_e, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const hostPort = `${shownHost}:${bound}`;

  const ttl = opts.uploadTtlMs ?? 60 * 60_000;
  const purge = async () => {
    for (const repo of await listRepositoryDirs(driver)) {
      const n = await uploads.purge(repo, ttl);
      if (n) log(JSON.stringify({ time: new Date().toISOString(), msg: 'purged stale uploads', repository: repo, count: n }));
    }
  };
  const purgeSafely = () => purge().catch((e: Error) => log(JSON.stringify({ time: new Date().toISOString(), msg: 'upload purge failed', error: e.message })));
  void purgeSafely();
  const timer = setInterval(purgeSafely, Math.min(ttl, 10 * 60_000));
  timer.unref();

  let closed: Promise<void> | undefined;
  return {
    url: `${scheme}://${hostPort}`,
    host: hostPort,
    close() {
      closed ??= (async () => {
        closing = true;
        clearInterval(timer);
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight > 0) {
          const waited = new Promise<void>((resolve) => (drained = resolve));
          let t: NodeJS.Timeout | undefined;
          const timeout = new Promise<void>((resolve) => (t = setTimeout(resolve, opts.shutdownTimeoutMs ?? 30_000)));
          await Promise.race([waited, timeout]);
          clearTimeout(t);
        }
        server.closeAllConnections();
        await stopped;
      })();
      return closed;
    },
  };
}
