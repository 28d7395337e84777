import type { Credentials } from '../credentials.js';
import { RegistryError, registryErrorFromBody } from '../errors.js';
import type { Transport } from '../transport.js';

/** A Bearer token and when to stop using it (ms since epoch). */
export interface Token {
  token: string;
  expiresAt: number;
  refreshToken?: string;
}

export interface TokenRequest {
  /** The registry the token is for; named in errors. */
  registry: string;
  realm: string;
  service?: string;
  scopes: string[];
  credentials?: Credentials;
  signal?: AbortSignal;
}

/** Tokens without `expires_in` last 60 s per the token spec; refresh a little early to avoid racing the expiry. */
const DEFAULT_TTL_S = 60;
const EARLY_S = 5;

/**
 * Fetches a Bearer token from a token server (distribution's token spec): GET with optional
 * basic credentials, or the OAuth2 POST form with a refresh (identity) token.
 */
export async function fetchToken(transport: Transport, req: TokenRequest): Promise<Token> {
  let realm: URL;
  try {
    realm = new URL(req.realm);
  } catch {
    throw new RegistryError(req.registry, `invalid token realm ${JSON.stringify(req.realm)}`);
  }
  const creds = req.credentials;
  const now = Date.now();
  let status: number;
  let text: string;
  if (creds?.identityToken) {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'tsbuild' });
    if (req.service) form.set('service', req.service);
    if (req.scopes.length) form.set('scope', req.scopes.join(' '));
    const res = await transport.request({
      method: 'POST',
      url: realm.href,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
      ...(req.signal ? { signal: req.signal } : {}),
    });
    status = res.status;
    text = await res.body.text();
  } else {
    const url = new URL(realm.href);
    if (req.service) url.searchParams.set('service', req.service);
    for (const s of req.scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (creds?.username !== undefined && creds.password !== undefined) {
      url.searchParams.set('account', creds.username);
      headers.authorization = basicHeader(creds.username, creds.password);
    }
    const res = await transport.request({ method: 'GET', url: url.href, headers, ...(req.signal ? { signal: req.signal } : {}) });
    status = res.status;
    text = await res.body.text();
  }
  if (status === 401 || status === 403) {
    const err = registryErrorFromBody(req.registry, status, text, 'token request');
    throw new RegistryError(
      req.registry,
      creds ? 'authentication failed: incorrect username, password or token' : 'authentication required (no credentials; run tsbuild login)',
      status,
      err.code ?? 'UNAUTHORIZED',
    );
  }
  if (status !== 200) throw registryErrorFromBody(req.registry, status, text, 'token request');
  let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown; refresh_token?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new RegistryError(req.registry, 'token server answered with something that is not JSON', status);
  }
  const token = typeof body.access_token === 'string' && body.access_token ? body.access_token : body.token;
  if (typeof token !== 'string' || !token) throw new RegistryError(req.registry, 'token server answered without a token', status);
  const ttl = typeof body.expires_in === 'number' && body.expires_in > 0 ? Math.max(body.expires_in, DEFAULT_TTL_S) : DEFAULT_TTL_S;
  const issued = typeof body.issued_at === 'string' ? Date.parse(body.issued_at) : NaN;
  // Trust our clock over the server's when they disagree wildly (skew); otherwise count from issued_at.
  const start = Number.isFinite(issued) && Math.abs(issued - now) < 60_000 ? issued : now;
  return {
    token,
    expiresAt: start + (ttl - EARLY_S) * 1000,
    ...(typeof body.refresh_token === 'string' && body.refresh_token ? { refreshToken: body.refresh_token } : {}),
  };
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
