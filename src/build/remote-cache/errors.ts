/** A cache export that failed; `tsbuild build` fails with it unless `ignore-error=true`. */
export class CacheExportError extends Error {
  override name = 'CacheExportError';
}

/** A cache that exists but cannot be used (not a tsbuild cache, malformed, unreadable). */
export class CacheImportError extends Error {
  override name = 'CacheImportError';
}
