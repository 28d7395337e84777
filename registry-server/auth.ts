import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryHttpError } from './errors.js';
import { basicCredentials, type Htpasswd } from './htpasswd.js';
import { type Access, allows, formatScope, parseScope, TokenIssuer } from './token.js';

export type AuthMode = 'none' | 'basic' | 'token';

export const SERVICE = 'tsbuild-registry';

/** Who is asking; `undefined` user means anonymous. */
export interface Identity {
  user?: string;
}

/**
 * Decides whether a request may do what it needs (`needed`, in token-scope terms) and produces the
 * challenge clients follow when it may not. Basic mode: any valid htpasswd user may do anything.
 * Token mode: a Bearer JWT from our own `/token` endpoint, whose access list must cover the need.
 */
export class Authorizer {
  constructor(
    readonly mode: AuthMode,
    private readonly users: Htpasswd | undefined,
    readonly issuer: TokenIssuer = new TokenIssuer(),
  ) {
    if (mode === 'basic' && !users) throw new Error('basic auth needs an htpasswd file');
  }

  /**
   * `wanted` is access the request can use but does without (pull on a mount's source): it is not
   * required, but a challenge asks for it too, so a client that follows it gets a token that can.
   */
  async authorize(req: IncomingMessage, needed: Access[], baseUrl: string, wanted: Access[] = []): Promise<Identity> {
    if (this.mode === 'none') return {};
    if (this.mode === 'basic') {
      const cred = basicCredentials(req.headers.authorization);
      if (cred && (await this.users!.verify(cred.user, cred.password))) return { user: cred.user };
      throw new RegistryHttpError('UNAUTHORIZED', 'authentication required', undefined, {
        headers: { 'WWW-Authenticate': `Basic realm="${SERVICE}"` },
      });
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const claims = m ? this.issuer.verify(m[1]!, SERVICE) : undefined;
    if (claims && allows(claims.access, needed)) return claims.sub ? { user: claims.sub } : {};
    const scope = [...needed, ...wanted].map(formatScope).join(' ');
    const challenge = `Bearer realm="${baseUrl}/token",service="${SERVICE}"${scope ? `,scope="${scope}"` : ''}`;
    const insufficient = claims !== undefined;
    throw new RegistryHttpError('UNAUTHORIZED', insufficient ? 'insufficient scope' : 'authentication required', needed.length ? needed : undefined, {
      headers: { 'WWW-Authenticate': insufficient ? `${challenge},error="insufficient_scope"` : challenge },
    });
  }

  /** Whether a request may pull from another repository (cross-repository mounts). */
  async mayPull(req: IncomingMessage, repo: string, baseUrl: string): Promise<boolean> {
    try {
      await this.authorize(req, [{ type: 'repository', name: repo, actions: ['pull'] }], baseUrl);
      return true;
    } catch (e) {
      if (e instanceof RegistryHttpError) return false;
      throw e;
    }
  }

  /**
   * Repositories this request may pull from, for mounting a blob found wherever it is readable
   * (`mount=` without a usable `from`). Open and basic modes grant every authenticated client
   * everything; a token grants only the repositories its access list names.
   */
  pullableRepositories(req: IncomingMessage): 'all' | string[] {
    if (this.mode !== 'token') return 'all';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const claims = m ? this.issuer.verify(m[1]!, SERVICE) : undefined;
    if (!claims) return [];
    return claims.access.filter((a) => a.type === 'repository' && (a.actions.includes('pull') || a.actions.includes('*'))).map((a) => a.name);
  }

  /**
   * `GET /token?service=&scope=` (with Basic credentials when users are configured) and the OAuth2
   * password grant `POST /token`. Without an htpasswd file every requested scope is granted; with
   * one, authenticated users get what they ask and anonymous clients get nothing.
   */
  async handleToken(req: IncomingMessage, res: ServerResponse, url: URL): Promise<{ user?: string }> {
    if (this.mode !== 'token') throw new RegistryHttpError('UNSUPPORTED', 'this registry does not issue tokens', undefined, { status: 404 });
    let params = url.searchParams;
    let cred = basicCredentials(req.headers.authorization);
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const c of req) {
        n += (c as Buffer).length;
        if (n > 64 * 1024) throw new RegistryHttpError('SIZE_INVALID', 'token request too large', undefined, { status: 413 });
        chunks.push(c as Buffer);
      }
      params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      if (params.get('grant_type') === 'password') cred = { user: params.get('username') ?? '', password: params.get('password') ?? '' };
      else throw new RegistryHttpError('UNSUPPORTED', 'only grant_type=password is supported', undefined, { status: 400 });
    } else if (req.method !== 'GET') {
      throw new RegistryHttpError('UNSUPPORTED', `method ${req.method} not allowed`);
    }
    const service = params.get('service') ?? SERVICE;
    if (service !== SERVICE) throw new RegistryHttpError('DENIED', `unknown service ${JSON.stringify(service)}`, undefined, { status: 400 });
    let user: string | undefined;
    if (cred) {
      if (!this.users || !(await this.users.verify(cred.user, cred.password))) {
        throw new RegistryHttpError('UNAUTHORIZED', 'invalid username or password', undefined, { headers: { 'WWW-Authenticate': `Basic realm="${SERVICE}"` } });
      }
      user = cred.user;
    }
    const requested = params.getAll('scope').flatMap(parseScope);
    const granted = user || !this.users ? requested : [];
    const { token, claims } = this.issuer.issue(user ?? '', service, granted);
    const body = JSON.stringify({ token, access_token: token, expires_in: this.issuer.ttlSeconds, issued_at: new Date(claims.iat * 1000).toISOString() });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(body);
    return user ? { user } : {};
  }
}
