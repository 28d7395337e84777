/**
 * A failure talking to a registry. `code` is the distribution spec's error code when the server
 * sent one (`MANIFEST_UNKNOWN`, `UNAUTHORIZED`, ...); the message always names the registry so a
 * multi-registry copy says which side failed.
 */
export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    readonly registry: string,
    message: string,
    readonly status?: number,
    readonly code?: string,
    readonly detail?: unknown,
  ) {
    super(`${registry}: ${code ? `${code}: ` : ''}${message}${status ? ` (HTTP ${status})` : ''}`);
  }
}

interface SpecError {
  code?: unknown;
  message?: unknown;
  detail?: unknown;
}

/** Builds a RegistryError from a response body in the spec's `{errors:[...]}` shape, or from the status alone. */
export function registryErrorFromBody(registry: string, status: number, body: string, what: string): RegistryError {
  let first: SpecError | undefined;
  try {
    const parsed = JSON.parse(body) as { errors?: SpecError[] };
    if (Array.isArray(parsed.errors) && parsed.errors.length > 0) first = parsed.errors[0];
  } catch {
    // not JSON: fall back to the status
  }
  const code = typeof first?.code === 'string' ? first.code : undefined;
  const msg = typeof first?.message === 'string' && first.message ? first.message : statusText(status);
  return new RegistryError(registry, `${what}: ${msg}`, status, code, first?.detail);
}

function statusText(status: number): string {
  const known: Record<number, string> = {
    400: 'bad request',
    401: 'unauthorized',
    403: 'denied',
    404: 'not found',
    405: 'not allowed',
    409: 'conflict',
    413: 'payload too large',
    416: 'range not satisfiable',
    429: 'too many requests',
    500: 'internal server error',
    502: 'bad gateway',
    503: 'service unavailable',
    504: 'gateway timeout',
  };
  return known[status] ?? `unexpected status`;
}
