import { resolve } from 'node:path';
import { UsageError } from '../../cli/command.js';
import { isValidTag, parseReference, type Reference, ReferenceError } from '../../image/reference.js';

/** How much of a build `--cache-to` exports (BuildKit's modes). */
export type CacheMode = 'min' | 'max';

interface CacheSpecBase {
  /** min: the steps of the final image only; max: every stage's steps (default min, as BuildKit). */
  mode: CacheMode;
  /** `ignore-error=true`: a failed export is a warning, not a failed build. */
  ignoreError: boolean;
}

/** A cache in a registry repository, as an OCI artifact manifest at `ref`. */
export interface RegistryCacheSpec extends CacheSpecBase {
  type: 'registry';
  ref: Reference;
}

/** A cache in an OCI image layout directory (`dest` to write, `src` to read), named `tag` in index.json. */
export interface LocalCacheSpec extends CacheSpecBase {
  type: 'local';
  src?: string;
  dest?: string;
  tag: string;
}

export type CacheSpec = RegistryCacheSpec | LocalCacheSpec;

/** A malformed `--cache-to`/`--cache-from` value; a usage error (exit 2). */
export class CacheOptionError extends UsageError {
  override name = 'CacheOptionError';
}

/** BuildKit's name for the local cache's default entry. */
export const DEFAULT_LOCAL_TAG = 'latest';

// Attributes BuildKit accepts that change nothing here (we always write OCI media types, gzip
// layers and an image manifest): tolerated so that buildx command lines work unchanged.
const TOLERATED = new Set(['oci-mediatypes', 'image-manifest', 'compression', 'compression-level', 'force-compression']);
const KNOWN: Record<CacheSpec['type'], ReadonlySet<string>> = {
  registry: new Set(['type', 'ref', 'mode', 'ignore-error']),
  local: new Set(['type', 'src', 'dest', 'tag', 'mode', 'ignore-error']),
};
const UNSUPPORTED_TYPES = new Set(['inline', 'gha', 's3', 'azblob']);

/**
 * Parses a `--cache-to`/`--cache-from` value in BuildKit's syntax: comma-separated `key=value`
 * (`type=registry,ref=host/repo:tag,mode=max`, `type=local,src=DIR`, `type=local,dest=DIR`), or a
 * bare reference meaning `type=registry,ref=...`. `use` checks what that direction needs (a tag
 * to push to, `dest` or `src`); without it either direction is accepted.
 */
export function parseCacheOption(value: string, use?: 'to' | 'from'): CacheSpec {
  const flag = use === 'to' ? '--cache-to' : use === 'from' ? '--cache-from' : 'cache option';
  const bad = (why: string) => new CacheOptionError(`invalid ${flag} ${JSON.stringify(value)}: ${why}`);
  const text = value.trim();
  if (text === '') throw bad('empty');
  const fields = new Map<string, string>();
  if (!text.includes('=')) fields.set('type', 'registry').set('ref', text);
  else {
    for (const part of text.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw bad(`expected key=value, got ${JSON.stringify(part)}`);
      const k = part.slice(0, eq).trim().toLowerCase();
      if (fields.has(k)) throw bad(`${k} given twice`);
      fields.set(k, part.slice(eq + 1).trim());
    }
  }
  const type = fields.get('type') ?? (fields.has('ref') ? 'registry' : undefined);
  if (!type) throw bad('missing type= (registry or local)');
  if (UNSUPPORTED_TYPES.has(type)) throw bad(`cache type ${JSON.stringify(type)} is not supported (registry or local)`);
  if (type !== 'registry' && type !== 'local') throw bad(`unknown cache type ${JSON.stringify(type)} (registry or local)`);
  for (const k of fields.keys()) {
    if (!KNOWN[type].has(k) && !TOLERATED.has(k)) throw bad(`unknown key ${JSON.stringify(k)} for type=${type}`);
  }
  const modeText = fields.get('mode') ?? 'min';
  if (modeText !== 'min' && modeText !== 'max') throw bad(`mode must be min or max, not ${JSON.stringify(modeText)}`);
  if (use === 'from' && fields.has('mode')) throw bad('mode= applies to --cache-to only');
  const ignoreText = fields.get('ignore-error') ?? 'false';
  if (ignoreText !== 'true' && ignoreText !== 'false') throw bad(`ignore-error must be true or false`);
  const base: CacheSpecBase = { mode: modeText, ignoreError: ignoreText === 'true' };

  if (type === 'registry') {
    const refText = fields.get('ref');
    if (!refText) throw bad('type=registry needs ref=REGISTRY/REPOSITORY[:TAG]');
    let ref: Reference;
    try {
      ref = parseReference(refText);
    } catch (e) {
      if (e instanceof ReferenceError) throw bad(e.message);
      throw e;
    }
    if (use === 'to' && ref.digest) throw bad('ref= must name a tag to push to, not a digest');
    return { type, ref, ...base };
  }

  const src = fields.get('src');
  const dest = fields.get('dest');
  if (src === '' || dest === '') throw bad('src= and dest= need a directory');
  if (use === 'to' && !dest) throw bad('type=local needs dest=DIR');
  if (use === 'from' && !src) throw bad('type=local needs src=DIR');
  if (!src && !dest) throw bad('type=local needs src=DIR or dest=DIR');
  const tag = fields.get('tag') ?? DEFAULT_LOCAL_TAG;
  if (!isValidTag(tag)) throw bad(`invalid tag ${JSON.stringify(tag)}`);
  return { type, ...(src ? { src: resolve(src) } : {}), ...(dest ? { dest: resolve(dest) } : {}), tag, ...base };
}

/** For messages: `registry 127.0.0.1:5000/cache:main`, `local /tmp/cache`. */
export function describeCache(spec: CacheSpec, use: 'to' | 'from'): string {
  if (spec.type === 'registry') {
    const r = spec.ref;
    return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
  }
  return `local ${use === 'to' ? spec.dest : spec.src}${spec.tag !== DEFAULT_LOCAL_TAG ? `:${spec.tag}` : ''}`;
}
