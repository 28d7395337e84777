/**
 * The OCI runtime-spec `config.json` of a build step or `tsbuild run`: a pure function of its inputs,
 * modelled on what docker/BuildKit give a container (mounts, namespaces, default capabilities,
 * masked and read-only paths), without seccomp or cgroup limits.
 */

export type NetworkMode = 'host' | 'none' | 'sandbox';

export interface UserIds {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

/** An OCI mount, as in config.json. */
export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface RuntimeSpecOptions {
  args: string[];
  env: string[];
  /** Absolute path in the container; created by the runtime if missing. */
  cwd: string;
  user: UserIds;
  hostname: string;
  /**
   * `host` shares the host's network namespace; `none` gets a new one with only `lo`; `sandbox` is
   * the same as `none` for now (no CNI or slirp here), so a step can never reach the host's network.
   */
  network: NetworkMode;
  /** Absolute path of the root filesystem (the mounted snapshot). */
  rootfs: string;
  rootfsReadonly?: boolean;
  /** Extra mounts (RUN --mount), after the standard ones so they may cover them. */
  mounts?: OciMount[];
  terminal?: boolean;
  /** Host files bound read-only on /etc/resolv.conf and /etc/hosts; omitted when undefined. */
  resolvConfPath?: string;
  hostsPath?: string;
  /** RLIMIT_NOFILE for the process: never above the host's hard limit, or runc fails. */
  nofileLimit: number;
  /**
   * The runtime itself runs in a user namespace (rootless, see src/rootless/): sysfs cannot be
   * mounted for the host's network namespace there, so with host networking the host's /sys is bound
   * read-only; and no cgroup device rules are asked for (a rootless runtime cannot write cgroups).
   */
  rootless?: boolean;
}

/** Docker's default capability set. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Docker's default file-descriptor limit, capped by the host. */
export const DEFAULT_NOFILE = 1048576;

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The mount destinations of the standard mounts, for callers that care which paths are mount points. */
export function standardMounts(opts: Pick<RuntimeSpecOptions, 'resolvConfPath' | 'hostsPath' | 'rootless'> & { network?: NetworkMode }): OciMount[] {
  const m: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // A user namespace may mount sysfs only for a network namespace it owns: not the host's.
    opts.rootless && (opts.network ?? 'host') === 'host'
      ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'ro', 'nosuid', 'noexec', 'nodev'] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
  if (opts.resolvConfPath) {
    m.push({ destination: '/etc/resolv.conf', type: 'bind', source: opts.resolvConfPath, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
  }
  if (opts.hostsPath) {
    m.push({ destination: '/etc/hosts', type: 'bind', source: opts.hostsPath, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
  }
  return m;
}

/** Adds PATH when the image set none, as docker does. */
export function withDefaultPath(env: string[]): string[] {
  return env.some((e) => e.startsWith('PATH=')) ? env : [`PATH=${DEFAULT_PATH}`, ...env];
}

export function createRuntimeSpec(opts: RuntimeSpecOptions): Record<string, unknown> {
  const namespaces: { type: string }[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (opts.network !== 'host') namespaces.push({ type: 'network' });
  const nofile = Math.max(1, Math.min(DEFAULT_NOFILE, opts.nofileLimit));
  const caps = [...DEFAULT_CAPABILITIES];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: opts.terminal ?? false,
      user: {
        uid: opts.user.uid,
        gid: opts.user.gid,
        // The primary group leads the supplementary ones, whatever the USER form, as BuildKit and
        // containerd set it (since CVE-2023-25173): a process cannot drop its primary group's
        // access by setgroups, and `id` lists it among `groups=`.
        additionalGids: [...new Set([opts.user.gid, ...(opts.user.additionalGids ?? [])])],
      },
      args: opts.args,
      env: withDefaultPath(opts.env),
      cwd: opts.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }],
      noNewPrivileges: false,
    },
    root: { path: opts.rootfs, readonly: opts.rootfsReadonly ?? false },
    hostname: opts.hostname,
    mounts: [...standardMounts(opts), ...(opts.mounts ?? [])],
    linux: {
      namespaces,
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      ...(opts.rootless ? {} : { resources: { devices: [{ allow: false, access: 'rwm' }] } }),
    },
  };
}
