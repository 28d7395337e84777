/** FROM's `--platform` flag and containerd's lenient platform syntax, for the platform rules. */
import type { Flag, FromInstruction } from '../../dockerfile/ast.js';

export function platformFlag(from: FromInstruction): Flag | undefined {
  const found = from.flags.filter((f) => f.name.toLowerCase() === 'platform' && f.value !== null);
  return found[found.length - 1];
}

const OSES = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'illumos', 'ios', 'js', 'linux', 'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows', 'zos']);
const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i386: '386', i686: '386' };
const ARCHES = new Set(['386', 'amd64', 'arm', 'arm64', 'loong64', 'mips', 'mips64', 'mips64le', 'mipsle', 'ppc64', 'ppc64le', 'riscv64', 's390x', 'wasm']);
const COMPONENT = /^[A-Za-z0-9_.-]+$/;

/**
 * containerd's platforms.Parse, as far as OS and architecture: `linux/amd64[/v2]`, or one word that
 * is an OS (`linux`) or an architecture (`arm64`, `aarch64`). Undefined when it would not parse.
 */
export function parseLenientPlatform(spec: string): { os: string; architecture: string } | undefined {
  const parts = spec.toLowerCase().split('/');
  if (parts.length > 3 || parts.some((p) => !COMPONENT.test(p))) return undefined;
  const arch = (a: string) => ARCH_ALIASES[a] ?? a;
  if (parts.length === 1) {
    const p = parts[0]!;
    if (OSES.has(p)) return { os: p, architecture: 'amd64' };
    if (ARCHES.has(arch(p))) return { os: 'linux', architecture: arch(p) };
    return undefined;
  }
  if (!OSES.has(parts[0]!)) return undefined;
  return { os: parts[0]!, architecture: arch(parts[1]!) };
}
