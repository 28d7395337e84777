/** EXPOSE words split as BuildKit's port specs: `[ip:][hostPort:]containerPort[/proto]`. */
import type { ExposeInstruction } from '../../dockerfile/ast.js';
import type { CheckContext } from '../context.js';
import { hasVariables } from './helpers.js';

export interface PortSpec {
  raw: string;
  ip: string;
  hostPort: string;
  proto: string;
}

/** Undefined when BuildKit would reject the spec (no port, unknown protocol): the build reports that. */
export function parsePortSpec(raw: string): PortSpec | undefined {
  const parts = raw.split(':');
  const n = parts.length;
  const containerPort = parts[n - 1]!;
  const hostPort = n >= 2 ? parts[n - 2]! : '';
  const ip = n >= 3 ? parts.slice(0, n - 2).join(':') : '';
  const slash = containerPort.indexOf('/');
  const port = slash < 0 ? containerPort : containerPort.slice(0, slash);
  const proto = slash < 0 ? '' : containerPort.slice(slash + 1);
  if (port === '' || !['', 'tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) return undefined;
  return { raw, ip, hostPort, proto };
}

/** Every EXPOSE of the checked stages with its words expanded (raw words when there is no plan). */
export function exposedPorts(ctx: CheckContext): { at: ExposeInstruction; specs: PortSpec[] }[] {
  const out: { at: ExposeInstruction; specs: PortSpec[] }[] = [];
  for (const stage of ctx.stages) {
    if (!stage.checked) continue;
    const items = stage.steps
      ? stage.steps.flatMap((s) => (s.kind === 'EXPOSE' && s.instruction.kind === 'EXPOSE' ? [{ at: s.instruction, ports: s.ports }] : []))
      : stage.instructions.flatMap((i) => (i.kind === 'EXPOSE' ? [{ at: i, ports: i.ports.filter((p) => !hasVariables(p)) }] : []));
    for (const { at, ports } of items) out.push({ at, specs: ports.flatMap((p) => parsePortSpec(p) ?? []) });
  }
  return out;
}
