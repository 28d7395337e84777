/** One challenge of a `WWW-Authenticate` header: `Bearer realm="...",service="...",scope="..."`. */
export interface Challenge {
  /** Lower-cased: `bearer`, `basic`. */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header (RFC 7235): several challenges, each a scheme and
 * comma-separated `key=value` or `key="quoted, \"value\""` parameters.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : (header ?? '');
  const out: Challenge[] = [];
  let i = 0;
  const n = text.length;
  const skipSpace = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === ',')) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  while (i < n) {
    skipSpace();
    const scheme = token();
    if (!scheme) {
      i++;
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
      const save = i;
      if (text[i] === ',') i++;
      while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
      const key = token();
      while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
      if (!key || text[i] !== '=') {
        // Not a parameter: the start of the next challenge (or token68, which registries do not use).
        i = key ? save : i;
        break;
      }
      i++;
      while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++;
          value += text[i];
          i++;
        }
        i++;
      } else {
        const start = i;
        while (i < n && text[i] !== ',' && text[i] !== ' ') i++;
        value = text.slice(start, i);
      }
      challenge.params[key.toLowerCase()] = value;
    }
  }
  return out;
}
