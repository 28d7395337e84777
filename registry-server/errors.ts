/** The distribution spec's error codes, with the HTTP status each usually travels with. */
export const ErrorCodes = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  /** Not in the spec's table; distribution uses it for internal errors. */
  UNKNOWN: 500,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/**
 * An error the registry answers with: status, spec code, one-line message and optional detail,
 * rendered as `{"errors":[{"code","message","detail"}]}`.
 */
export class RegistryHttpError extends Error {
  override name = 'RegistryHttpError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: unknown,
    opts: { status?: number; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = opts.status ?? ErrorCodes[code];
    this.headers = opts.headers ?? {};
  }
  readonly headers: Record<string, string>;

  body(): string {
    return JSON.stringify({ errors: [{ code: this.code, message: this.message, ...(this.detail !== undefined ? { detail: this.detail } : {}) }] });
  }
}
