/**
 * The `check` parser directive (`# check=skip=A,B;error=true`) and the BUILDKIT_DOCKERFILE_CHECK build
 * arg, parsed as BuildKit's linter.ParseLintOptions: at most three `;`-separated `key=value` parts,
 * keys skip (`all` or a comma list), error (a Go bool) and experimental.
 */
import { parseGoBool } from '../plan/flags.js';

export interface CheckConfig {
  skipAll: boolean;
  skip: ReadonlySet<string>;
  errorOnFindings: boolean;
  experimentalAll: boolean;
  experimental: ReadonlySet<string>;
}

export class CheckOptionsError extends Error {
  override name = 'CheckOptionsError';
}

export const defaultCheckConfig: CheckConfig = {
  skipAll: false,
  skip: new Set(),
  errorOnFindings: false,
  experimentalAll: false,
  experimental: new Set(),
};

function ruleList(v: string): string[] {
  return v.split(',').map((r) => r.trim());
}

/** Throws CheckOptionsError with BuildKit's message on a malformed value. */
export function parseCheckOptions(value: string): CheckConfig {
  const text = value.trim();
  if (text === '') return defaultCheckConfig;
  // Go's strings.SplitN(s, ";", 3): the third part keeps any further semicolons.
  const parts: string[] = [];
  let rest = text;
  while (parts.length < 2) {
    const i = rest.indexOf(';');
    if (i < 0) break;
    parts.push(rest.slice(0, i));
    rest = rest.slice(i + 1);
  }
  parts.push(rest);
  let skipAll = false;
  let skip: string[] = [];
  let errorOnFindings = false;
  let experimentalAll = false;
  let experimental: string[] = [];
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq < 0) throw new CheckOptionsError(`invalid check option ${JSON.stringify(p)}`);
    const k = p.slice(0, eq).trim();
    const v = p.slice(eq + 1).trim();
    switch (k) {
      case 'skip':
        if (v === 'all') skipAll = true;
        else skip = ruleList(v);
        break;
      case 'experimental':
        if (v === 'all') experimentalAll = true;
        else experimental = ruleList(v);
        break;
      case 'error': {
        const b = parseGoBool(v);
        if (b === undefined) throw new CheckOptionsError(`failed to parse check option ${JSON.stringify(p)}: strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
        errorOnFindings = b;
        break;
      }
      default:
        throw new CheckOptionsError(`invalid check option ${JSON.stringify(k)}`);
    }
  }
  return { skipAll, skip: new Set(skip), errorOnFindings, experimentalAll, experimental: new Set(experimental) };
}

/** A per-instruction `# check=` comment adds to the file's configuration, never removes from it. */
export function mergeCheckConfig(base: CheckConfig, other: CheckConfig): CheckConfig {
  return {
    skipAll: base.skipAll || other.skipAll,
    skip: other.skip.size > 0 ? new Set([...base.skip, ...other.skip]) : base.skip,
    errorOnFindings: base.errorOnFindings || other.errorOnFindings,
    experimentalAll: base.experimentalAll || other.experimentalAll,
    experimental: other.experimental.size > 0 ? new Set([...base.experimental, ...other.experimental]) : base.experimental,
  };
}

/** Whether a rule reports under this configuration (experimental rules only when asked for). */
export function ruleEnabled(config: CheckConfig, rule: string, experimental = false): boolean {
  if (experimental) return config.experimentalAll || config.experimental.has(rule);
  return !config.skipAll && !config.skip.has(rule);
}

const commentDirective = /^\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;

/**
 * The configuration in force for one instruction, from the comments just above it (BuildKit's
 * WithMergedConfigFromComments): the first `check=...` comment counts, up to its first space, so
 * `# check=skip=Rule // why` works. A malformed one is ignored.
 */
export function configFromComments(base: CheckConfig, comments: readonly string[]): CheckConfig {
  for (const c of comments) {
    const m = commentDirective.exec(c);
    if (!m || m[1]!.toLowerCase() !== 'check') continue;
    const value = m[2]!.split(' ')[0]!;
    try {
      return mergeCheckConfig(base, parseCheckOptions(value));
    } catch {
      return base;
    }
  }
  return base;
}
