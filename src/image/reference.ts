import { type Digest, isDigest } from './digest.js';

/**
 * An image reference normalised the way docker does: `busybox` is
 * `docker.io/library/busybox:latest`, `localhost:5000/a/b@sha256:...` keeps its registry.
 */
export interface Reference {
  /** Registry host as written (with port), `docker.io` for the default. */
  registry: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

export const DEFAULT_REGISTRY = 'docker.io';
/** Where docker.io is actually served. */
export const DOCKER_HUB_HOST = 'registry-1.docker.io';

export class ReferenceError extends Error {
  override name = 'ReferenceError';
}

// From the distribution reference grammar.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const REPOSITORY_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const HOST_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;

export function isValidRepository(name: string): boolean {
  return name.length <= 255 && REPOSITORY_RE.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Parses `[host[:port]/]path[:tag][@digest]`; a reference with neither tag nor digest gets `latest`. */
export function parseReference(input: string, opts: { defaultTag?: boolean } = {}): Reference {
  const bad = (why: string) => new ReferenceError(`invalid reference ${JSON.stringify(input)}: ${why}`);
  if (input === '' || input.length > 1024) throw bad('empty or too long');
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad(`invalid digest ${JSON.stringify(d)}`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw bad(`invalid tag ${JSON.stringify(tag)}`);
  }
  let registry = DEFAULT_REGISTRY;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    // A first component is a registry host when it looks like one: a dot, a port, or localhost.
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      if (!HOST_RE.test(first)) throw bad(`invalid registry host ${JSON.stringify(first)}`);
      registry = first;
      path = rest.slice(slash + 1);
    }
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_HOST) registry = DEFAULT_REGISTRY;
  if (registry === DEFAULT_REGISTRY && !path.includes('/')) path = `library/${path}`;
  if (!isValidRepository(path)) {
    throw bad(path !== path.toLowerCase() ? 'repository name must be lowercase' : `invalid repository name ${JSON.stringify(path)}`);
  }
  if (!tag && !digest && opts.defaultTag !== false) tag = 'latest';
  return { registry, repository: path, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The full normalised name: `docker.io/library/busybox:latest`, `host:5000/x@sha256:...`. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The short form docker prints: `busybox:latest` for official images, `user/x:1` on Docker Hub. */
export function familiarName(ref: Reference): string {
  let name = `${ref.registry}/${ref.repository}`;
  if (ref.registry === DEFAULT_REGISTRY) name = ref.repository.startsWith('library/') ? ref.repository.slice(8) : ref.repository;
  return `${name}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The host to contact for a registry name. */
export function registryHost(registry: string): string {
  return registry === DEFAULT_REGISTRY ? DOCKER_HUB_HOST : registry;
}
