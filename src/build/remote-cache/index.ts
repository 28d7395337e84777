export { CACHE_CONFIG_MEDIA_TYPE, type CacheConfig, parseCacheConfig, buildCacheDocument } from './cache-format.js';
export { type CacheMode, CacheOptionError, type CacheSpec, DEFAULT_LOCAL_TAG, describeCache, type LocalCacheSpec, parseCacheOption, type RegistryCacheSpec } from './cache-spec.js';
export { CacheExportError, CacheImportError } from './errors.js';
export { exportCache, type ExportCacheOptions, type ExportCacheResult } from './export-cache.js';
export { openRemoteCache, type RemoteCache, type RemoteCacheOptions } from './remote-cache.js';
