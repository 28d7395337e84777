import { parseDigest, type Digest } from '../src/image/digest.js';

// Where things live in storage, as in distribution: blob bytes once, globally, by digest; each
// repository holds only small link files naming digests. Every argument has been validated
// (repository name, tag, digest, upload id) before it reaches these functions.

function split(d: Digest): { alg: string; hex: string } {
  const { algorithm, hex } = parseDigest(d);
  return { alg: algorithm, hex };
}

export const BLOBS_ROOT = '/blobs';
export const REPOS_ROOT = '/repositories';

export function blobDataPath(d: Digest): string {
  const { alg, hex } = split(d);
  return `${BLOBS_ROOT}/${alg}/${hex.slice(0, 2)}/${hex}/data`;
}

export function repoPath(repo: string): string {
  return `${REPOS_ROOT}/${repo}`;
}

export function layerLinkPath(repo: string, d: Digest): string {
  const { alg, hex } = split(d);
  return `${repoPath(repo)}/_layers/${alg}/${hex}/link`;
}

export function revisionsPath(repo: string): string {
  return `${repoPath(repo)}/_manifests/revisions`;
}

export function revisionLinkPath(repo: string, d: Digest): string {
  const { alg, hex } = split(d);
  return `${revisionsPath(repo)}/${alg}/${hex}/link`;
}

/** The media type a manifest was pushed with, for documents that do not name their own. */
export function revisionTypePath(repo: string, d: Digest): string {
  const { alg, hex } = split(d);
  return `${revisionsPath(repo)}/${alg}/${hex}/mediatype`;
}

export function tagsPath(repo: string): string {
  return `${repoPath(repo)}/_manifests/tags`;
}

export function tagLinkPath(repo: string, tag: string): string {
  return `${tagsPath(repo)}/${tag}/current/link`;
}

export function referrersPath(repo: string, subject: Digest): string {
  const { alg, hex } = split(subject);
  return `${repoPath(repo)}/_referrers/${alg}/${hex}`;
}

/** One file per referrer, holding the descriptor the referrers API lists. */
export function referrerPath(repo: string, subject: Digest, referrer: Digest): string {
  const { alg, hex } = split(referrer);
  return `${referrersPath(repo, subject)}/${alg}-${hex}`;
}

export function uploadsPath(repo: string): string {
  return `${repoPath(repo)}/_uploads`;
}

export function uploadDataPath(repo: string, id: string): string {
  return `${uploadsPath(repo)}/${id}/data`;
}

export function uploadStartedPath(repo: string, id: string): string {
  return `${uploadsPath(repo)}/${id}/startedat`;
}
