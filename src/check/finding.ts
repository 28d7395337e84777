/** What `tsbuild build --check` reports: BuildKit's lint results, as plain data. */

export type Severity = 'warning' | 'error';

export interface Finding {
  /** BuildKit's rule name, e.g. `StageNameCasing`. */
  rule: string;
  /** The one-line message, BuildKit's wording. */
  message: string;
  file: string;
  /** 1-based, as editors count. */
  line: number;
  column: number;
  /** `error` when `# check=error=true` makes findings fail the build. */
  severity: Severity;
  /** The rule's documentation page. */
  url?: string;
}

/** A problem that stops the Dockerfile from building at all (BuildKit's lint "buildError"). */
export interface CheckFailure {
  message: string;
  file: string;
  line?: number;
  column?: number;
}

export interface CheckReport {
  /** In file order (line, then column). */
  findings: Finding[];
  /** `# check=error=true` (or BUILDKIT_DOCKERFILE_CHECK): a build must fail when there are findings. */
  errorOnFindings: boolean;
  /** Set when the Dockerfile cannot be built as it stands (bad check options, planning error...). */
  failure?: CheckFailure;
}

/** The message a build fails with under `error=true`, as BuildKit words it. */
export function violationMessage(report: CheckReport): string | undefined {
  if (!report.errorOnFindings || report.findings.length === 0) return undefined;
  const rules = [...new Set(report.findings.map((f) => f.rule))];
  return `lint violation found for rules: ${rules.join(', ')}`;
}
