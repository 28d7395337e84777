import type { Digest } from './digest.js';
import type { Platform } from './platform.js';
import { digest, integer, object, optionalArray, optionalObject, optionalString, string, stringMap } from './validate.js';

/** A typed reference to content: what it is, its digest and its size. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

export function parseDescriptor(v: unknown, field: string): Descriptor {
  const o = object(v, field);
  const d: Descriptor = {
    mediaType: string(o.mediaType, `${field}.mediaType`),
    digest: digest(o.digest, `${field}.digest`),
    size: integer(o.size, `${field}.size`),
  };
  const urls = optionalArray(o.urls, `${field}.urls`);
  if (urls) d.urls = urls.map((u, i) => string(u, `${field}.urls[${i}]`));
  const annotations = stringMap(o.annotations, `${field}.annotations`);
  if (annotations) d.annotations = annotations;
  const data = optionalString(o.data, `${field}.data`);
  if (data !== undefined) d.data = data;
  const artifactType = optionalString(o.artifactType, `${field}.artifactType`);
  if (artifactType !== undefined) d.artifactType = artifactType;
  const platform = optionalObject(o.platform, `${field}.platform`);
  if (platform) {
    d.platform = {
      architecture: string(platform.architecture, `${field}.platform.architecture`),
      os: string(platform.os, `${field}.platform.os`),
    };
    const variant = optionalString(platform.variant, `${field}.platform.variant`);
    if (variant !== undefined) d.platform.variant = variant;
    const osVersion = optionalString(platform['os.version'], `${field}.platform.os.version`);
    if (osVersion !== undefined) d.platform['os.version'] = osVersion;
    const osFeatures = optionalArray(platform['os.features'], `${field}.platform.os.features`);
    if (osFeatures) d.platform['os.features'] = osFeatures.map((f, i) => string(f, `${field}.platform.os.features[${i}]`));
  }
  return d;
}
