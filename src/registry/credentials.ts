import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_REGISTRY } from '../image/reference.js';

/** What a registry accepts: a user and password, or an identity (refresh) token from a previous login. */
export interface Credentials {
  username?: string;
  password?: string;
  identityToken?: string;
}

/** Where credentials for a registry come from; `registry` is the normalised name (`docker.io`, `host:5000`). */
export interface CredentialStore {
  get(registry: string): Promise<Credentials | undefined>;
}

export class CredentialError extends Error {
  override name = 'CredentialError';
}

/** The key docker uses for Docker Hub in config.json and with credential helpers. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  [k: string]: unknown;
}

interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

/** `https://index.docker.io/v1/` -> `docker.io`, `http://h:5000/v2/` -> `h:5000`. */
export function normaliseAuthKey(key: string): string {
  let host = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  host = host.toLowerCase();
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'registry.hub.docker.com') return DEFAULT_REGISTRY;
  return host;
}

/** The server name handed to credential helpers and used as the `auths` key when writing. */
export function authKeyFor(registry: string): string {
  return normaliseAuthKey(registry) === DEFAULT_REGISTRY ? DOCKER_HUB_AUTH_KEY : registry;
}

/** docker's config dir: $DOCKER_CONFIG, else ~/.docker. */
export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
}

/**
 * Credentials in docker's `config.json`: `auths` (base64 `auth` or `identitytoken`), then
 * `credHelpers` per registry and `credsStore` for all, run as `docker-credential-<name>`.
 * Writes (login/logout) keep every other key of the file and replace it atomically, mode 0600.
 */
export class DockerConfigCredentials implements CredentialStore {
  readonly file: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(opts: { configDir?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.env = opts.env ?? process.env;
    this.file = join(opts.configDir ?? dockerConfigDir(this.env), 'config.json');
  }

  async get(registry: string): Promise<Credentials | undefined> {
    const config = await this.read();
    const want = normaliseAuthKey(registry);
    const helper = this.helperFor(config, want);
    if (helper) {
      const fromHelper = await runHelperGet(helper, authKeyFor(want), this.env);
      if (fromHelper) return fromHelper;
    }
    const entry = findAuth(config, want);
    return entry ? decodeEntry(entry, this.file) : undefined;
  }

  /** Stores credentials the way docker login does: in the helper when one is configured, else in `auths`. */
  async store(registry: string, creds: Credentials): Promise<void> {
    const config = await this.read();
    const want = normaliseAuthKey(registry);
    const key = authKeyFor(want);
    const helper = this.helperFor(config, want);
    config.auths ??= {};
    for (const k of Object.keys(config.auths)) if (normaliseAuthKey(k) === want) delete config.auths[k];
    if (helper) {
      const secret = creds.identityToken ?? creds.password ?? '';
      const username = creds.identityToken ? '<token>' : (creds.username ?? '');
      await runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: username, Secret: secret }), this.env);
      config.auths[key] = {};
    } else if (creds.identityToken) {
      config.auths[key] = { ...(creds.username ? { auth: Buffer.from(`${creds.username}:`).toString('base64') } : {}), identitytoken: creds.identityToken };
    } else {
      config.auths[key] = { auth: Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`).toString('base64') };
    }
    await this.write(config);
  }

  /** Removes stored credentials; false when there were none. */
  async erase(registry: string): Promise<boolean> {
    const config = await this.read();
    const want = normaliseAuthKey(registry);
    let found = false;
    const helper = this.helperFor(config, want);
    if (helper) {
      try {
        await runHelper(helper, 'erase', authKeyFor(want), this.env);
        found = true;
      } catch (e) {
        if (!(e instanceof CredentialError) || !/not found/i.test(e.message)) throw e;
      }
    }
    for (const k of Object.keys(config.auths ?? {})) {
      if (normaliseAuthKey(k) === want) {
        delete config.auths![k];
        found = true;
      }
    }
    if (found) await this.write(config);
    return found;
  }

  private helperFor(config: DockerConfig, registry: string): string | undefined {
    for (const [k, v] of Object.entries(config.credHelpers ?? {})) if (normaliseAuthKey(k) === registry && v) return v;
    return config.credsStore || undefined;
  }

  private async read(): Promise<DockerConfig> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new CredentialError(`cannot read ${this.file}: ${(e as Error).message}`);
    }
    if (text.trim() === '') return {};
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      return parsed as DockerConfig;
    } catch (e) {
      throw new CredentialError(`${this.file} is not valid JSON (${(e as Error).message})`);
    }
  }

  private async write(config: DockerConfig): Promise<void> {
    const dir = join(this.file, '..');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(config, null, '\t')}\n`);
      await fh.sync();
    } catch (e) {
      await fh.close();
      await rm(tmp, { force: true });
      throw e;
    }
    await fh.close();
    await rename(tmp, this.file);
  }
}

function findAuth(config: DockerConfig, registry: string): AuthEntry | undefined {
  for (const [k, v] of Object.entries(config.auths ?? {})) {
    if (normaliseAuthKey(k) === registry && v && typeof v === 'object') return v;
  }
  return undefined;
}

function decodeEntry(entry: AuthEntry, file: string): Credentials | undefined {
  const creds: Credentials = {};
  if (typeof entry.auth === 'string' && entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // Never echo the value: it is a secret.
    if (colon < 0) throw new CredentialError(`${file}: an "auth" entry is not base64 of user:password`);
    creds.username = decoded.slice(0, colon);
    creds.password = decoded.slice(colon + 1);
  } else if (typeof entry.username === 'string') {
    creds.username = entry.username;
    if (typeof entry.password === 'string') creds.password = entry.password;
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken) {
    creds.identityToken = entry.identitytoken;
    delete creds.password;
  }
  return creds.username || creds.password || creds.identityToken ? creds : undefined;
}

async function runHelperGet(helper: string, serverUrl: string, env: NodeJS.ProcessEnv): Promise<Credentials | undefined> {
  let out: string;
  try {
    out = await runHelper(helper, 'get', serverUrl, env);
  } catch (e) {
    if (e instanceof CredentialError && /credentials not found/i.test(e.message)) return undefined;
    throw e;
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(out) as typeof parsed;
  } catch {
    throw new CredentialError(`docker-credential-${helper} get: output is not JSON`);
  }
  const username = typeof parsed.Username === 'string' ? parsed.Username : '';
  const secret = typeof parsed.Secret === 'string' ? parsed.Secret : '';
  if (!secret) return undefined;
  return username === '<token>' ? { identityToken: secret } : { username, password: secret };
}

/** Runs `docker-credential-<helper> <action>` with `input` on stdin; stdout on success. */
function runHelper(helper: string, action: string, input: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) return Promise.reject(new CredentialError(`invalid credential helper name ${JSON.stringify(helper)}`));
  const program = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.resume();
    child.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      reject(new CredentialError(code === 'ENOENT' ? `credential helper ${program} not found on PATH` : `${program} ${action}: ${e.message}`));
    });
    child.on('close', (code) => {
      const text = Buffer.concat(out).toString('utf8').trim();
      if (code === 0) resolve(text);
      // Helpers print a short reason on stdout ("credentials not found in native keychain"); no secrets.
      else reject(new CredentialError(`${program} ${action} failed (exit ${code})${text && text.length < 200 ? `: ${text}` : ''}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}
