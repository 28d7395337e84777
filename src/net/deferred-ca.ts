import { readFileSync } from 'node:fs';

/**
 * NODE_EXTRA_CA_CERTS, deferred.
 *
 * Node 20 reads and parses every root certificate at start-up when NODE_EXTRA_CA_CERTS is set (about
 * 80 ms on a small machine), although most tsbuild commands never open a TLS connection. The `tsbuild`
 * launcher (bin/tsbuild) therefore starts Node without it and hands the path over as
 * TSBUILD_DEFERRED_CA_CERTS. At start-up the CLI puts the variable back for child processes
 * (`restoreForChildren`), and every TLS client of ours adds the certificates itself
 * (`deferredCaCertificates`), so they are trusted exactly as Node would have trusted them.
 */
const HANDOFF = 'TSBUILD_DEFERRED_CA_CERTS';

/** Called once at start-up: children (git, credential helpers, runtimes) see the user's environment. */
export function restoreForChildren(env: NodeJS.ProcessEnv = process.env): void {
  const file = env[HANDOFF];
  if (!file) return;
  env.NODE_EXTRA_CA_CERTS ??= file;
}

/** For a child that is tsbuild itself: hand the bundle over deferred again, as the launcher did. */
export function deferForChild(env: NodeJS.ProcessEnv): void {
  const file = env[HANDOFF];
  if (file && env.NODE_EXTRA_CA_CERTS === file) delete env.NODE_EXTRA_CA_CERTS;
}

let cached: { file: string; pem: string | undefined } | undefined;

/**
 * The PEM text of the deferred bundle, or undefined when Node loaded it itself (or none is set). As
 * Node does, an unreadable file is ignored rather than fatal.
 */
export function deferredCaCertificates(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env[HANDOFF];
  if (!file) return undefined;
  if (cached?.file !== file) {
    let pem: string | undefined;
    try {
      pem = readFileSync(file, 'utf8');
    } catch {
      pem = undefined;
    }
    cached = { file, pem };
  }
  return cached.pem;
}
