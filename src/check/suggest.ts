/**
 * BuildKit's suggest.Search, for "(did you mean X?)": the closest option at an edit distance under 3;
 * none when the word itself is an option. Case-sensitive on Linux, as BuildKit's callers ask.
 */
export function suggestName(word: string, options: Iterable<string>, caseSensitive = true): string | undefined {
  const val = caseSensitive ? word : word.toLowerCase();
  let match: string | undefined;
  let best = 3;
  for (const option of options) {
    const opt = caseSensitive ? option : option.toLowerCase();
    if (opt === val) return undefined;
    const d = levenshtein(val, opt, best);
    if (d < best) {
      match = option;
      best = d;
    }
  }
  return match;
}

/** Edit distance, giving up (returning `limit`) once it cannot be under `limit`. */
function levenshtein(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin >= limit) return limit;
    prev = cur;
  }
  return prev[b.length]!;
}
