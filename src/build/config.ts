import { posix } from 'node:path';
import type { CommandLine } from '../dockerfile/ast.js';
import type { ContainerConfig, HistoryEntry, ImageConfig } from '../image/image-config.js';
import type { Step } from '../plan/build-graph.js';
import { goDuration, goList, goQuoteList } from './go-format.js';

/**
 * Pure image-config mutations per Dockerfile instruction, with BuildKit's semantics and its exact
 * history strings (dockerfile2llb's dispatch* functions), so images match what docker builds.
 */

export const HISTORY_COMMENT = 'buildkit.dockerfile.v0';

/** What a stage carries besides the config: whether CMD was set in this stage (ENTRYPOINT resets it otherwise). */
export interface StageImageState {
  config: ImageConfig;
  cmdSet: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function defaultShell(): string[] {
  return ['/bin/sh', '-c'];
}

function cc(config: ImageConfig): ContainerConfig {
  return (config.config ??= {});
}

/** The argv for a shell- or exec-form command, through the stage's SHELL for the shell form. */
export function commandArgs(cmd: CommandLine, shell: string[] | undefined): string[] {
  if (cmd.form === 'exec') return [...cmd.args];
  return [...(shell && shell.length > 0 ? shell : defaultShell()), cmd.command];
}

/** BuildKit's addEnv: replaces the first entry with the same key, else appends. */
export function addEnv(env: string[] | undefined, key: string, value: string): string[] {
  const out = [...(env ?? [])];
  const i = out.findIndex((e) => e.split('=', 1)[0] === key);
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

export function envMap(env: string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    m.set(i < 0 ? e : e.slice(0, i), i < 0 ? '' : e.slice(i + 1));
  }
  return m;
}

/** `EXPOSE 80 53/udp 8000-8001` -> `80/tcp 53/udp 8000/tcp 8001/tcp`, as BuildKit's parsePorts. */
export function parsePorts(ports: string[]): string[] {
  const out: string[] = [];
  for (const raw of ports) {
    const parts = raw.split(':');
    const container = parts[parts.length - 1]!;
    const [portPart, proto = 'tcp'] = container.split('/', 2) as [string, string?];
    if (!portPart) throw new ConfigError(`invalid port: "${raw}": no port specified`);
    const [a, b] = portPart.split('-', 2);
    const start = Number(a);
    const end = b === undefined || b === a ? start : Number(b);
    if (!/^\d+$/.test(a ?? '') || (b !== undefined && !/^\d+$/.test(b)) || start > 65535 || end > 65535 || end < start) {
      throw new ConfigError(`invalid containerPort: ${portPart}`);
    }
    for (let p = start; p <= end; p++) out.push(`${p}/${proto.toLowerCase()}`);
  }
  return out;
}

/** WORKDIR relative to the previous one; always absolute and clean. */
export function normalizeWorkdir(current: string | undefined, path: string): string {
  const p = posix.isAbsolute(path) ? path : posix.join(current || '/', path);
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** `runCommandString`: `|2 A=1 B=2 /bin/sh -c make` when ARGs are in scope. */
export function runCreatedBy(args: string[], buildArgs: Record<string, string>, declared: string[]): string {
  const pairs = declared.filter((k) => k in buildArgs).map((k) => `${k}=${buildArgs[k]}`);
  const prefix = pairs.length > 0 ? [`|${pairs.length}`, ...pairs] : [];
  return `RUN ${[...prefix, ...args].join(' ')}`;
}

/** The `created_by` of a COPY/ADD: `COPY --chown=a --chmod=b src... dest`. */
export function copyCreatedBy(step: Extract<Step, { kind: 'COPY' | 'ADD' }>): string {
  let s = step.kind;
  if (step.parents) s += ' --parents';
  if (step.chown) s += ` --chown=${step.chown}`;
  if (step.chmod) s += ` --chmod=${step.chmod}`;
  for (const src of step.sources) if (src.type === 'path') s += ` ${src.path}`;
  for (const src of step.sources) if (src.type === 'heredoc') s += ` <<${src.name}`;
  return `${s} ${step.dest}`;
}

function history(createdBy: string, emptyLayer: boolean, created: string | undefined): HistoryEntry {
  return { ...(created ? { created } : {}), created_by: createdBy, comment: HISTORY_COMMENT, ...(emptyLayer ? { empty_layer: true } : {}) };
}

/**
 * Applies a metadata instruction (anything but RUN, COPY, ADD) to the stage image state and appends
 * its history entry. WORKDIR changes the config here; its directory is made by the executor.
 * Returns false for instructions this function does not handle.
 */
export function applyMetadata(state: StageImageState, step: Step, created: string | undefined): void {
  const c = state.config;
  const conf = cc(c);
  const push = (h: HistoryEntry) => (c.history ??= []).push(h);
  switch (step.kind) {
    case 'ENV': {
      let msg = 'ENV';
      for (const { key, value } of step.pairs) {
        conf.Env = addEnv(conf.Env, key, value);
        msg += ` ${key}=${value}`;
      }
      push(history(msg, true, created));
      return;
    }
    case 'LABEL': {
      let msg = 'LABEL';
      conf.Labels ??= {};
      for (const { key, value } of step.pairs) {
        conf.Labels[key] = value;
        msg += ` ${key}=${value}`;
      }
      push(history(msg, true, created));
      return;
    }
    case 'MAINTAINER':
      c.author = step.name;
      push(history(`MAINTAINER ${step.name}`, true, created));
      return;
    case 'EXPOSE': {
      const ports = parsePorts(step.ports);
      conf.ExposedPorts ??= {};
      for (const p of ports) conf.ExposedPorts[p] = {};
      push(history(`EXPOSE ${goList(ports)}`, true, created));
      return;
    }
    case 'USER':
      conf.User = step.user;
      push(history(`USER ${step.user}`, true, created));
      return;
    case 'VOLUME':
      conf.Volumes ??= {};
      for (const v of step.paths) {
        if (v === '') throw new ConfigError('VOLUME specified can not be an empty string');
        conf.Volumes[v] = {};
      }
      push(history(`VOLUME ${goList(step.paths)}`, true, created));
      return;
    case 'STOPSIGNAL':
      if (!/^(SIG)?[A-Z0-9+-]+$/i.test(step.signal)) throw new ConfigError(`invalid signal: ${step.signal}`);
      conf.StopSignal = step.signal;
      push(history(`STOPSIGNAL ${step.signal}`, true, created));
      return;
    case 'SHELL':
      conf.Shell = [...step.args];
      push(history(`SHELL ${goList(step.args)}`, true, created));
      return;
    case 'CMD': {
      const args = commandArgs(step.command, conf.Shell);
      conf.Cmd = args;
      conf.ArgsEscaped = true;
      state.cmdSet = true;
      push(history(`CMD ${goQuoteList(args)}`, true, created));
      return;
    }
    case 'ENTRYPOINT': {
      const args = commandArgs(step.command, conf.Shell);
      conf.Entrypoint = args;
      if (!state.cmdSet) conf.Cmd = null;
      push(history(`ENTRYPOINT ${goQuoteList(args)}`, true, created));
      return;
    }
    case 'HEALTHCHECK': {
      const test =
        step.test.type === 'NONE'
          ? ['NONE']
          : step.test.command.form === 'exec'
            ? ['CMD', ...step.test.command.args]
            : ['CMD-SHELL', step.test.command.command];
      const hc: NonNullable<ContainerConfig['Healthcheck']> = { Test: test };
      if (step.interval) hc.Interval = step.interval;
      if (step.timeout) hc.Timeout = step.timeout;
      if (step.startPeriod) hc.StartPeriod = step.startPeriod;
      if (step.startInterval) hc.StartInterval = step.startInterval;
      if (step.retries) hc.Retries = step.retries;
      conf.Healthcheck = hc;
      push(
        history(
          `HEALTHCHECK {Test:${goList(test)} Interval:${goDuration(step.interval ?? 0)} Timeout:${goDuration(step.timeout ?? 0)} StartPeriod:${goDuration(step.startPeriod ?? 0)} StartInterval:${goDuration(step.startInterval ?? 0)} Retries:${step.retries ?? 0}}`,
          true,
          created,
        ),
      );
      return;
    }
    case 'ONBUILD':
      // BuildKit records the trigger and writes no history entry for it.
      conf.OnBuild = [...(conf.OnBuild ?? []), step.trigger];
      return;
    case 'ARG': {
      const strs = step.args.map((a) => (a.value !== undefined ? `${a.key}=${a.value}` : a.key));
      push(history(`ARG ${strs.join(' ')}`, true, created));
      return;
    }
    case 'WORKDIR': {
      const wd = normalizeWorkdir(conf.WorkingDir, step.path);
      conf.WorkingDir = wd;
      push(history(`WORKDIR ${wd}`, wd === '/', created));
      return;
    }
    default:
      throw new ConfigError(`${step.kind} is not a metadata instruction`);
  }
}

/** History entry of a step that makes a layer (RUN, COPY, ADD). */
export function layerHistoryEntry(createdBy: string, created: string | undefined): HistoryEntry {
  return history(`${createdBy} # buildkit`, false, created);
}

/** The config a stage starts from: the base image's, minus what a child image must not inherit. */
export function baseStageConfig(base: ImageConfig | undefined, platform: { os: string; architecture: string; variant?: string }): ImageConfig {
  if (!base) {
    return {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: [] },
      history: [],
    };
  }
  const copy = JSON.parse(JSON.stringify(base)) as ImageConfig;
  // ONBUILD triggers run in the child build and are not inherited further.
  if (copy.config) delete copy.config.OnBuild;
  copy.history ??= [];
  return copy;
}
