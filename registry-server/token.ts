import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** One grant or need: `repository:library/busybox:pull,push`, `registry:catalog:*`. */
export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export function parseScope(scope: string): Access[] {
  // Several scopes may share one parameter, space-separated.
  return scope
    .split(' ')
    .filter(Boolean)
    .flatMap((s) => {
      const first = s.indexOf(':');
      const last = s.lastIndexOf(':');
      if (first < 0 || last === first) return [];
      return [{ type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',').filter(Boolean) }];
    });
}

export function formatScope(a: Access): string {
  return `${a.type}:${a.name}:${a.actions.join(',')}`;
}

/** Whether `granted` covers every action of every `needed` entry. */
export function allows(granted: Access[], needed: Access[]): boolean {
  return needed.every((n) =>
    n.actions.every((action) => granted.some((g) => g.type === n.type && g.name === n.name && (g.actions.includes(action) || g.actions.includes('*')))),
  );
}

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  access: Access[];
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** HS256 JWTs signed with a secret only this server knows: it is both issuer and audience. */
export class TokenIssuer {
  constructor(
    private readonly secret: Buffer = randomBytes(32),
    readonly issuer = 'tsbuild-registry',
    readonly ttlSeconds = 300,
  ) {}

  issue(subject: string, audience: string, access: Access[], now = Math.floor(Date.now() / 1000)): { token: string; claims: TokenClaims } {
    const claims: TokenClaims = { iss: this.issuer, sub: subject, aud: audience, iat: now, nbf: now - 5, exp: now + this.ttlSeconds, jti: randomBytes(12).toString('hex'), access };
    const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const body = b64url(JSON.stringify(claims));
    return { token: `${head}.${body}.${this.sign(`${head}.${body}`)}`, claims };
  }

  private sign(text: string): string {
    return createHmac('sha256', this.secret).update(text).digest('base64url');
  }

  /** The claims of a valid, unexpired token for `audience`, or undefined. */
  verify(token: string, audience: string, now = Math.floor(Date.now() / 1000)): TokenClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const want = Buffer.from(this.sign(`${parts[0]}.${parts[1]}`));
    const got = Buffer.from(parts[2]!);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return undefined;
    }
    if (claims.iss !== this.issuer || claims.aud !== audience || !(claims.exp > now) || !(claims.nbf <= now) || !Array.isArray(claims.access)) return undefined;
    return claims;
  }
}
