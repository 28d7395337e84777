import type { CredentialStore, Credentials } from '../credentials.js';
import type { Transport } from '../transport.js';
import { type Challenge, parseChallenges } from './challenge.js';
import { basicHeader, fetchToken, type Token } from './token.js';

/** `repository:library/busybox:pull` or `...:pull,push`. */
export function repositoryScope(repository: string, actions: 'pull' | 'push' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}

interface RegistryAuthState {
  /** How the registry last challenged us; undefined until a 401 was seen. */
  challenge?: Challenge;
  credentials?: Credentials | null;
  tokens: Map<string, Token>;
  pending: Map<string, Promise<Token>>;
}

/**
 * Authorization for every registry a client talks to: remembers each registry's challenge,
 * caches Bearer tokens per scope set until they expire, and sends basic credentials where
 * the registry asks for Basic. Credentials are looked up lazily, once, and never logged.
 */
export class Authenticator {
  private readonly state = new Map<string, RegistryAuthState>();

  constructor(
    private readonly transport: Transport,
    private readonly credentials?: CredentialStore,
  ) {}

  /**
   * The Authorization header for a request needing `scopes`, when the registry's scheme is
   * known; undefined means "try anonymously" (a 401 will then tell us the scheme).
   */
  async authorize(registry: string, scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const st = this.get(registry);
    const ch = st.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      const c = await this.creds(registry);
      return c?.username !== undefined && c.password !== undefined ? basicHeader(c.username, c.password) : undefined;
    }
    if (ch.scheme !== 'bearer' || !ch.params.realm) return undefined;
    const key = scopes.slice().sort().join(' ');
    const cached = st.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    let pending = st.pending.get(key);
    if (!pending) {
      // One token request per scope set even when many layers ask at once.
      pending = (async () => {
        const creds = await this.creds(registry);
        return fetchToken(this.transport, {
          registry,
          realm: ch.params.realm!,
          ...(ch.params.service !== undefined ? { service: ch.params.service } : {}),
          scopes,
          ...(creds ? { credentials: creds } : {}),
          ...(signal ? { signal } : {}),
        });
      })();
      st.pending.set(key, pending);
      pending.then(
        (t) => {
          st.tokens.set(key, t);
          st.pending.delete(key);
        },
        () => st.pending.delete(key),
      );
    }
    return `Bearer ${(await pending).token}`;
  }

  /**
   * Learns from a 401: records the challenge and forgets cached tokens for `scopes` (they were
   * refused). Returns whether retrying with fresh authorization can help.
   */
  onUnauthorized(registry: string, wwwAuthenticate: string | string[] | undefined, scopes: string[], sentAuthorization: boolean): boolean {
    const st = this.get(registry);
    const challenges = parseChallenges(wwwAuthenticate);
    const ch = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (!ch) return false;
    const known = st.challenge;
    const changed = !known || known.scheme !== ch.scheme || known.params.realm !== ch.params.realm || known.params.service !== ch.params.service;
    st.challenge = ch;
    st.tokens.delete(scopes.slice().sort().join(' '));
    // A refused Basic header will be refused again; a refused token may just have expired early.
    return changed || !sentAuthorization || ch.scheme === 'bearer';
  }

  /** Drops everything known about a registry (e.g. after a failed login check). */
  forget(registry: string): void {
    this.state.delete(registry);
  }

  private get(registry: string): RegistryAuthState {
    let st = this.state.get(registry);
    if (!st) {
      st = { tokens: new Map(), pending: new Map() };
      this.state.set(registry, st);
    }
    return st;
  }

  /** Explicit credentials, e.g. for `tsbuild login` verifying before it stores. */
  setCredentials(registry: string, creds: Credentials): void {
    const st = this.get(registry);
    st.credentials = creds;
    st.tokens.clear();
  }

  private async creds(registry: string): Promise<Credentials | undefined> {
    const st = this.get(registry);
    if (st.credentials === undefined) st.credentials = (await this.credentials?.get(registry)) ?? null;
    return st.credentials ?? undefined;
  }
}
