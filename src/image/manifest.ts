import { type Descriptor, parseDescriptor } from './descriptor.js';
import { ImageFormatError } from './errors.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from './media-types.js';
import { array, integer, object, optionalString, parseJson, stringMap } from './validate.js';

/** An image manifest, OCI or Docker schema2 (same shape). */
export interface Manifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An image index, OCI or Docker manifest list. */
export interface Index {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type AnyManifest = Manifest | Index;

export function isIndex(m: AnyManifest): m is Index {
  return Array.isArray((m as Index).manifests);
}

/**
 * Parses untrusted manifest bytes. The media type comes from the document, or failing that
 * from `declaredType` (e.g. a Content-Type header), or from its shape (OCI allows omitting it).
 */
export function parseManifest(bytes: Uint8Array | string, declaredType?: string): AnyManifest {
  const o = object(parseJson(bytes, 'manifest'), 'manifest');
  if (integer(o.schemaVersion, 'schemaVersion') !== 2) throw new ImageFormatError('schemaVersion', 'must be 2');
  const inDoc = optionalString(o.mediaType, 'mediaType');
  if (inDoc && declaredType && inDoc !== declaredType && !declaredType.startsWith('application/json')) {
    throw new ImageFormatError('mediaType', `${inDoc} does not match the declared ${declaredType}`);
  }
  const shapeIsIndex = Array.isArray(o.manifests);
  const mediaType = inDoc ?? (declaredType && declaredType !== 'application/json' ? declaredType : shapeIsIndex ? MediaType.OciIndex : MediaType.OciManifest);
  const common = {
    schemaVersion: 2 as const,
    mediaType,
    ...(o.artifactType !== undefined ? { artifactType: optionalString(o.artifactType, 'artifactType')! } : {}),
    ...(o.subject !== undefined ? { subject: parseDescriptor(o.subject, 'subject') } : {}),
    ...(o.annotations !== undefined ? { annotations: stringMap(o.annotations, 'annotations')! } : {}),
  };
  if (isIndexMediaType(mediaType)) {
    return { ...common, manifests: array(o.manifests, 'manifests').map((d, i) => parseDescriptor(d, `manifests[${i}]`)) };
  }
  if (!isManifestMediaType(mediaType)) {
    throw new ImageFormatError('mediaType', `unsupported manifest type ${JSON.stringify(mediaType)}`);
  }
  if (shapeIsIndex) throw new ImageFormatError('manifests', `not allowed in ${mediaType}`);
  return {
    ...common,
    config: parseDescriptor(o.config, 'config'),
    layers: array(o.layers, 'layers').map((d, i) => parseDescriptor(d, `layers[${i}]`)),
  };
}

/** Canonical bytes for a manifest we create (stable key order comes from construction). */
export function serializeManifest(m: AnyManifest): Buffer {
  return Buffer.from(JSON.stringify(m));
}
