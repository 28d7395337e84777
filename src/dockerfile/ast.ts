/**
 * The Dockerfile syntax tree. Values are kept as written (unexpanded): variable expansion is the
 * planner's job, since it depends on ARG/ENV scope. Every node keeps its original text and range.
 */

/** 1-based line and column, as editors and error messages count them. */
export interface Position {
  line: number;
  column: number;
}

export interface SourceRange {
  start: Position;
  end: Position;
}

export interface Directive {
  name: string; // lower-case: syntax, escape, check
  value: string;
  range: SourceRange;
}

export interface Warning {
  message: string;
  range: SourceRange;
  /** Short rule name, as BuildKit's checks have, e.g. `NoEmptyContinuation`. */
  rule?: string;
}

/** `--name=value` before an instruction's arguments; `value` is null for a bare `--name`. */
export interface Flag {
  name: string;
  value: string | null;
  range: SourceRange;
}

export interface Heredoc {
  /** The delimiter word, quotes removed. */
  name: string;
  /** The body, lines joined with \n, up to (not including) the closing delimiter line. */
  content: string;
  /** False when the delimiter was quoted: the body is then not expanded. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from the body lines. */
  chomp: boolean;
  /** `3<<EOF` redirects a file descriptor other than stdin. */
  fileDescriptor?: number;
}

/** Shell form (one string, run through SHELL) or exec form (a JSON array). */
export type CommandLine = { form: 'shell'; command: string } | { form: 'exec'; args: string[] };

export interface KeyValue {
  key: string;
  value: string;
}

interface Base<K extends string> {
  kind: K;
  /** The keyword as written, e.g. `run` or `RUN`. */
  keyword: string;
  /** The instruction's source text as written, continuation lines and all. */
  original: string;
  range: SourceRange;
  flags: Flag[];
}

export interface FromInstruction extends Base<'FROM'> {
  image: string;
  alias?: string;
}
export interface RunInstruction extends Base<'RUN'> {
  command: CommandLine;
  heredocs: Heredoc[];
}
export interface CmdInstruction extends Base<'CMD'> {
  command: CommandLine;
}
export interface EntrypointInstruction extends Base<'ENTRYPOINT'> {
  command: CommandLine;
}
export interface ShellInstruction extends Base<'SHELL'> {
  args: string[];
}
export interface LabelInstruction extends Base<'LABEL'> {
  pairs: KeyValue[];
}
export interface MaintainerInstruction extends Base<'MAINTAINER'> {
  name: string;
}
export interface ExposeInstruction extends Base<'EXPOSE'> {
  ports: string[];
}
export interface EnvInstruction extends Base<'ENV'> {
  pairs: KeyValue[];
}
export interface CopyInstruction extends Base<'COPY' | 'ADD'> {
  /** Source words as written (shell form split on whitespace, or the JSON array). */
  sources: string[];
  dest: string;
  heredocs: Heredoc[];
}
export interface VolumeInstruction extends Base<'VOLUME'> {
  paths: string[];
}
export interface UserInstruction extends Base<'USER'> {
  user: string;
}
export interface WorkdirInstruction extends Base<'WORKDIR'> {
  path: string;
}
export interface ArgInstruction extends Base<'ARG'> {
  /** `ARG a b=c`: value undefined when no default is given. */
  args: { key: string; value?: string }[];
}
export interface OnbuildInstruction extends Base<'ONBUILD'> {
  trigger: Instruction;
}
export interface StopsignalInstruction extends Base<'STOPSIGNAL'> {
  signal: string;
}
export interface HealthcheckInstruction extends Base<'HEALTHCHECK'> {
  /** `HEALTHCHECK NONE`, or `HEALTHCHECK [flags] CMD ...`. */
  test: { type: 'NONE' } | { type: 'CMD'; command: CommandLine };
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ShellInstruction
  | LabelInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | EnvInstruction
  | CopyInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | ArgInstruction
  | OnbuildInstruction
  | StopsignalInstruction
  | HealthcheckInstruction;

export type InstructionKind = Instruction['kind'];

export interface Dockerfile {
  /** The path given to the parser (for messages), e.g. `Dockerfile`. */
  file: string;
  directives: Directive[];
  /** From the escape directive: `\` by default, or a backtick. */
  escapeToken: '\\' | '`';
  instructions: Instruction[];
  warnings: Warning[];
}

/** A syntax error with its place: printed as `file:line:col: message`. */
export class DockerfileError extends Error {
  override name = 'DockerfileError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
    /** The offending source text, shown after the message. */
    readonly excerpt?: string,
  ) {
    super(`${file}:${line}:${column}: ${reason}${excerpt ? `: ${excerpt}` : ''}`);
  }
}
