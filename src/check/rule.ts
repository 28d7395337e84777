/** One lint rule: BuildKit's name, description and page, and a pure function over the CheckContext. */
import type { Instruction, Position } from '../dockerfile/ast.js';
import type { CheckContext } from './context.js';

export interface RuleHit {
  message: string;
  /**
   * The instruction the finding is about: its start is the default position, and the `# check=`
   * comments above it apply (unless the rule is file-wide).
   */
  at: Instruction;
  /** A more precise place than the instruction's start (e.g. the `--platform` flag). */
  position?: Position;
}

export interface Rule {
  name: string;
  description: string;
  url?: string;
  /** BuildKit runs it with the file's configuration only: per-instruction `# check=` comments do not apply. */
  fileWide?: boolean;
  /** Reported only when asked for with `experimental=`. */
  experimental?: boolean;
  check(ctx: CheckContext, report: (hit: RuleHit) => void): void;
}

/** Docs pages live at one address per rule, named in kebab case. */
export function ruleUrl(name: string): string {
  return `https://docs.docker.com/go/dockerfile/rule/${name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/([A-Z])([A-Z][a-z])/g, '$1-$2').toLowerCase()}/`;
}
