/** Builds Dockerfile AST nodes by hand, so planner tests do not depend on the parser. */
import type { CopyInstruction, Dockerfile, Flag, Instruction } from '../../src/dockerfile/ast.js';

let line = 0;

type Node<K extends Instruction['kind']> = K extends 'COPY' | 'ADD' ? CopyInstruction : Extract<Instruction, { kind: K }>;
type Fields<K extends Instruction['kind']> = Omit<Node<K>, 'kind' | 'keyword' | 'original' | 'range' | 'flags'>;

/** One instruction on the next line; flags as `{ from: 'x', link: null }`. */
export function ins<K extends Instruction['kind']>(kind: K, fields: Fields<K>, flags: Record<string, string | null | string[]> = {}, original?: string): Instruction {
  line++;
  const range = { start: { line, column: 1 }, end: { line, column: 80 } };
  const fl: Flag[] = Object.entries(flags).flatMap(([name, v]) =>
    (Array.isArray(v) ? v : [v]).map((value) => ({ name, value, range })),
  );
  return { kind, keyword: kind, original: original ?? `${kind} ...`, range, flags: fl, ...fields } as unknown as Instruction;
}

export function dockerfile(...instructions: Instruction[]): Dockerfile {
  line = 0;
  // Renumber so lines follow the order given.
  instructions.forEach((i, n) => {
    i.range = { start: { line: n + 1, column: 1 }, end: { line: n + 1, column: 80 } };
  });
  return { file: 'Dockerfile', directives: [], escapeToken: '\\', instructions, warnings: [] };
}

export const from = (image: string, alias?: string, flags: Record<string, string> = {}) =>
  ins('FROM', alias === undefined ? { image } : { image, alias }, flags, `FROM ${image}${alias ? ` AS ${alias}` : ''}`);
export const arg = (key: string, value?: string) => ins('ARG', { args: [value === undefined ? { key } : { key, value }] });
export const env = (...kv: [string, string][]) => ins('ENV', { pairs: kv.map(([key, value]) => ({ key, value })) });
export const run = (command: string, flags: Record<string, string | string[] | null> = {}) =>
  ins('RUN', { command: { form: 'shell', command }, heredocs: [] }, flags);
export const copy = (sources: string[], dest: string, flags: Record<string, string | string[] | null> = {}) =>
  ins('COPY', { sources, dest, heredocs: [] }, flags);
