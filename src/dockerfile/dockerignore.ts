/**
 * `.dockerignore` with Docker's semantics (moby/patternmatcher + ignorefile):
 * - lines starting with `#` (before trimming) are comments; blank lines are skipped; a UTF-8 BOM is dropped;
 * - each pattern is trimmed, path-cleaned (`a//b/../c` is `a/c`) and a leading `/` removed;
 * - `*` and `?` never cross `/`; `**` matches any number of directories (zero included); `\` escapes;
 *   `[...]` is a character class;
 * - a pattern matching a directory matches everything below it;
 * - the last matching pattern wins; `!pattern` re-includes what earlier patterns excluded.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

export interface IgnorePattern {
  /** The cleaned pattern, without the `!`. */
  pattern: string;
  /** `!pattern`: re-includes what it matches. */
  exception: boolean;
}

export interface IgnoreMatcher {
  /** Whether the context path (relative, `/`-separated; cleaned here) is excluded from the context. */
  ignores(relPath: string): boolean;
  /**
   * Whether an exception (`!` pattern) could re-include some path strictly below this directory. A walker
   * may skip an ignored directory's whole subtree only when this is false. Conservative: true when unsure.
   */
  mayMatchUnder(dirRelPath: string): boolean;
  /** True when there are no patterns at all (nothing is ever ignored). */
  readonly empty: boolean;
}

export class DockerignoreError extends Error {
  override name = 'DockerignoreError';
}

/** Parses the text of a `.dockerignore` file into cleaned patterns, in file order. */
export function parseDockerignore(text: string): IgnorePattern[] {
  const out: IgnorePattern[] = [];
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  for (const raw of text.split(/\r?\n/)) {
    if (raw.startsWith('#')) continue;
    let line = raw.trim();
    if (line === '') continue;
    const exception = line.startsWith('!');
    if (exception) line = line.slice(1).trim();
    if (line !== '') {
      line = cleanPath(line);
      if (line.length > 1 && line.startsWith('/')) line = line.slice(1);
    }
    if (exception && line === '') throw new DockerignoreError('illegal exclusion pattern: "!"');
    if (line === '') continue;
    out.push({ pattern: line, exception });
  }
  return out;
}

/** Compiles patterns into a matcher. Throws DockerignoreError on a malformed pattern (e.g. `[a`). */
export function createIgnoreMatcher(patterns: readonly IgnorePattern[]): IgnoreMatcher {
  const compiled = patterns.map(compilePattern);
  const hasExceptions = compiled.some((p) => p.exception);
  // Files of one directory are usually asked about together: remember, per directory, which patterns
  // match it or one of its ancestors, so each file only tests its own name against each pattern.
  const dirCache = new Map<string, Uint8Array>();

  const dirMatches = (dir: string): Uint8Array => {
    let hit = dirCache.get(dir);
    if (hit) return hit;
    const slash = dir.lastIndexOf('/');
    const parent = slash < 0 ? undefined : dirMatches(dir.slice(0, slash));
    hit = new Uint8Array(compiled.length);
    for (let i = 0; i < compiled.length; i++) hit[i] = parent?.[i] || compiled[i]!.test(dir) ? 1 : 0;
    if (dirCache.size > 50_000) dirCache.clear();
    dirCache.set(dir, hit);
    return hit;
  };

  return {
    empty: compiled.length === 0,
    ignores(relPath: string): boolean {
      if (compiled.length === 0) return false;
      const path = cleanRelative(relPath);
      // Docker never ignores the context root itself.
      if (path === '.' || path === '') return false;
      const slash = path.lastIndexOf('/');
      const parents = slash < 0 ? undefined : dirMatches(path.slice(0, slash));
      let matched = false;
      for (let i = 0; i < compiled.length; i++) {
        const p = compiled[i]!;
        // An include pattern cannot change an already-ignored path, nor an exception a kept one.
        if (p.exception !== matched) continue;
        if (parents?.[i] || p.test(path)) matched = !p.exception;
      }
      return matched;
    },
    mayMatchUnder(dirRelPath: string): boolean {
      if (!hasExceptions) return false;
      const dir = cleanRelative(dirRelPath);
      const parts = dir === '.' || dir === '' ? [] : dir.split('/');
      return compiled.some((p) => p.exception && p.couldMatchBelow(parts));
    },
  };
}

/**
 * Reads the ignore file for a build: `<Dockerfile>.dockerignore` beside the Dockerfile first (BuildKit's
 * per-Dockerfile ignore file), then `.dockerignore` at the context root. No file: no patterns.
 */
export async function loadDockerignore(
  contextDir: string,
  dockerfilePath?: string,
): Promise<{ patterns: IgnorePattern[]; file?: string }> {
  const candidates: string[] = [];
  if (dockerfilePath) {
    const df = resolve(contextDir, dockerfilePath);
    candidates.push(join(dirname(df), `${basename(df)}.dockerignore`));
  }
  candidates.push(join(resolve(contextDir), '.dockerignore'));
  for (const file of candidates) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw e;
    }
    try {
      return { patterns: parseDockerignore(text), file };
    } catch (err) {
      throw new DockerignoreError(`${file}: ${(err as Error).message}`);
    }
  }
  return { patterns: [] };
}

interface CompiledPattern {
  exception: boolean;
  test(path: string): boolean;
  /** Whether this pattern could match the directory `parts`, an ancestor of it, or a path below it. */
  couldMatchBelow(parts: string[]): boolean;
}

function compilePattern(p: IgnorePattern): CompiledPattern {
  const pattern = p.pattern;
  const test = compileTest(pattern);
  const segments = pattern.split('/');
  const segmentTests = segments.map((s) => (s.includes('**') ? undefined : compileSegment(s)));
  return {
    exception: p.exception,
    test,
    couldMatchBelow(parts: string[]): boolean {
      for (let i = 0; i < segments.length; i++) {
        const seg = segmentTests[i];
        // `**` can absorb any remaining directories: assume it could match.
        if (seg === undefined) return true;
        // The pattern is a prefix of the directory path (or equal): it matches an ancestor, or the dir.
        if (i >= parts.length) return true;
        if (!seg(parts[i]!)) return false;
      }
      // Every segment matched a leading part of the directory: the pattern names an ancestor or the dir.
      return true;
    },
  };
}

/** The whole-path test, with the fast cases patternmatcher also special-cases. */
function compileTest(pattern: string): (path: string) => boolean {
  const hasMeta = /[*?[\]\\]/.test(pattern);
  if (!hasMeta) return (path) => path === pattern;
  // `prefix/**` with no other wildcard.
  if (pattern.endsWith('**') && !/[*?[\]\\]/.test(pattern.slice(0, -2))) {
    const prefix = pattern.slice(0, -2);
    return (path) => path.startsWith(prefix);
  }
  // `**/suffix` (or `**suffix`) with no other wildcard: also matches the bare suffix.
  if (pattern.startsWith('**') && !/[*?[\]\\]/.test(pattern.slice(2))) {
    const suffix = pattern.slice(2);
    return (path) => path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
  }
  const re = new RegExp(`^${globToRegExpSource(pattern, true)}$`, 'u');
  return (path) => re.test(path);
}

function compileSegment(segment: string): (name: string) => boolean {
  if (!/[*?[\]\\]/.test(segment)) return (name) => name === segment;
  const re = new RegExp(`^${globToRegExpSource(segment, false)}$`, 'u');
  return (name) => re.test(name);
}

/** Docker's glob to RegExp: `*` and `?` stop at `/`, `**` spans directories, `\` escapes, `[...]` is a class (`[^...]` negated). */
function globToRegExpSource(pattern: string, allowDoubleStar: boolean): string {
  const chars = Array.from(pattern);
  let out = '';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') {
      if (allowDoubleStar && chars[i + 1] === '*') {
        i++;
        // `**/` is `**`: the slash is part of the any-directories match.
        if (chars[i + 1] === '/') i++;
        out += i + 1 >= chars.length ? '.*' : '(?:.*/)?';
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '\\') {
      const n = chars[i + 1];
      if (n === undefined) out += '\\\\';
      else {
        out += escapeRegExpChar(n);
        i++;
      }
    } else if (c === '[') {
      const end = classEnd(chars, i);
      if (end < 0) throw new DockerignoreError(`syntax error in pattern ${JSON.stringify(pattern)}: unterminated [`);
      out += classSource(chars.slice(i + 1, end));
      i = end;
    } else out += escapeRegExpChar(c);
  }
  return out;
}

/** Index of the `]` closing the class opened at `start`, or -1. A `]` right after `[` or `[^` is literal. */
function classEnd(chars: string[], start: number): number {
  let i = start + 1;
  if (chars[i] === '^') i++;
  if (chars[i] === ']') i++;
  for (; i < chars.length; i++) {
    if (chars[i] === '\\') i++;
    else if (chars[i] === ']') return i;
  }
  return -1;
}

/** A Go filepath.Match character class (`[^a-z]`, `[\]]`) as a RegExp class that never matches `/`. */
function classSource(inner: string[]): string {
  let i = 0;
  let negate = false;
  if (inner[0] === '^') {
    negate = true;
    i = 1;
  }
  let body = '';
  for (; i < inner.length; i++) {
    const c = inner[i]!;
    if (c === '\\' && i + 1 < inner.length) {
      body += escapeClassChar(inner[++i]!);
    } else if (c === '-') body += '-';
    else body += escapeClassChar(c);
  }
  if (body === '') throw new DockerignoreError('syntax error in pattern: empty character class');
  return negate ? `[^/${body}]` : `(?![/])[${body}]`;
}

function escapeClassChar(c: string): string {
  return /[\\\]^[-]/.test(c) ? `\\${c}` : c;
}

function escapeRegExpChar(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

/** Go's path.Clean: collapse `//`, resolve `.` and `..`, no trailing slash; `` becomes `.`. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

const NEEDS_CLEAN = /(?:^|\/)\.\.?(?:\/|$)|\/\/|^\/|\/$/;

/** A path relative to the context, cleaned, without leading `./` or `/`. */
function cleanRelative(p: string): string {
  // Walkers pass clean paths: skip the split/join for them.
  if (p !== '' && !NEEDS_CLEAN.test(p)) return p;
  let c = cleanPath(p);
  while (c.startsWith('/')) c = c.slice(1);
  return c === '' ? '.' : c;
}
