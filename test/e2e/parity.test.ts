import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, cp, mkdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import pLimit from 'p-limit';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImage } from '../../src/image/image.js';
import { loadOciLayout } from '../../src/store/oci-layout.js';
import { openStore, type Store } from '../../src/store/store.js';
import { runCli } from '../helpers/cli.js';

/*
 * Parity with buildah (Debian's, the reference installed here): the same Dockerfile and context built by
 * tsbuild and by `buildah bud` must give the same flattened filesystem (path, type, mode with special bits,
 * owner, symlink target, content hash, hardlink grouping) and the same config. mtimes are ignored.
 * Where buildah deviates from Docker/BuildKit, the difference is listed below with the reason, and the
 * Docker behaviour is what tsbuild implements.
 */

const execFileP = promisify(execFile);
const repo = resolve(__dirname, '../..');
const cases = join(repo, 'testdata/parity');
const haveBuildah = existsSync('/usr/bin/buildah');
if (!haveBuildah) console.warn('parity.test.ts: skipped, /usr/bin/buildah is not installed (scripts/install-deps.sh installs it)');

/** Labels buildah adds on its own. */
const BUILDAH_LABELS = ['io.buildah.version'];

interface FileEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  sha?: string;
  linkname?: string;
  /** For hardlinked files: the first path of the group, in path order. */
  hardlinkGroup?: string;
}

interface LayerSource {
  mediaType: string;
  open(): Readable;
}

/** Applies the layers in order, as a runtime would see the root filesystem (OCI whiteouts honoured). */
async function flatten(layers: LayerSource[]): Promise<Map<string, FileEntry>> {
  const files = new Map<string, FileEntry>();
  const links = new Map<string, string>(); // path -> hardlink target path, for grouping
  for (const layer of layers) {
    const thisLayer = new Set<string>();
    const ex = tar.extract();
    const done = (async () => {
      for await (const e of ex) {
        const hash = createHash('sha256');
        for await (const c of e) hash.update(c as Buffer);
        const p = `/${e.header.name.replace(/^\.?\/+/, '').replace(/\/+$/, '')}`;
        const slash = p.lastIndexOf('/');
        const dir = p.slice(0, slash);
        const base = p.slice(slash + 1);
        if (base === '.wh..wh..opq') {
          for (const k of [...files.keys()]) if (k.startsWith(`${dir}/`) && !thisLayer.has(k)) files.delete(k);
          continue;
        }
        if (base.startsWith('.wh.')) {
          const target = `${dir}/${base.slice(4)}`;
          for (const k of [...files.keys()]) if (k === target || k.startsWith(`${target}/`)) files.delete(k);
          continue;
        }
        // A path replaced by another type drops what was below it.
        if (e.header.type !== 'directory') for (const k of [...files.keys()]) if (k.startsWith(`${p}/`)) files.delete(k);
        thisLayer.add(p);
        links.delete(p);
        const h = e.header;
        if (h.type === 'link') {
          const target = `/${(h.linkname ?? '').replace(/^\.?\/+/, '')}`;
          const t = files.get(target);
          if (!t) throw new Error(`hardlink ${p} to missing ${target}`);
          files.set(p, { ...t });
          links.set(p, target);
          continue;
        }
        const entry: FileEntry = { type: h.type ?? 'file', mode: (h.mode ?? 0) & 0o7777, uid: h.uid ?? 0, gid: h.gid ?? 0 };
        if (h.type === 'file' || h.type === 'contiguous-file') {
          entry.type = 'file';
          entry.sha = hash.digest('hex').slice(0, 16);
        }
        if (h.type === 'symlink') entry.linkname = h.linkname ?? '';
        files.set(p, entry);
      }
    })();
    const s = layer.open();
    const src = layer.mediaType.endsWith('gzip') ? s.pipe(createGunzip()) : s;
    src.pipe(ex);
    await done;
  }
  // Hardlink groups: every member names the group's first path, so link direction does not matter.
  const groups = new Map<string, string[]>();
  for (const [p, t] of links) {
    if (!files.has(p) || !files.has(t)) continue;
    let root = t;
    while (links.has(root)) root = links.get(root)!;
    groups.set(root, [...(groups.get(root) ?? [root]), p]);
  }
  for (const members of groups.values()) {
    const first = [...members].sort()[0]!;
    for (const m of members) files.get(m)!.hardlinkGroup = first;
  }
  return files;
}

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function describeEntry(e: FileEntry): string {
  const parts = [e.type, `0${e.mode.toString(8)}`, `${e.uid}:${e.gid}`];
  if (e.sha) parts.push(e.sha);
  if (e.linkname !== undefined) parts.push(`-> ${e.linkname}`);
  if (e.hardlinkGroup) parts.push(`hardlink ${e.hardlinkGroup}`);
  return parts.join(' ');
}

/** One line per path that differs: `path: tsbuild=... buildah=...`. */
function diffFiles(ours: Map<string, FileEntry>, theirs: Map<string, FileEntry>, ignore: (p: string, a?: FileEntry, b?: FileEntry) => boolean): string[] {
  const out: string[] = [];
  const paths = new Set([...ours.keys(), ...theirs.keys()]);
  for (const p of [...paths].sort()) {
    const a = ours.get(p);
    const b = theirs.get(p);
    if (ignore(p, a, b)) continue;
    const da = a ? describeEntry(a) : 'absent';
    const db = b ? describeEntry(b) : 'absent';
    if (da !== db) out.push(`${p}: tsbuild=${da} buildah=${db}`);
  }
  return out;
}

type Config = Record<string, unknown>;
const CONFIG_KEYS = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal', 'Healthcheck', 'Shell', 'OnBuild'];

/** The fields Docker's image config carries, with empty values and absent ones made equal. */
function normalizeConfig(c: Config): Config {
  const out: Config = {};
  for (const k of CONFIG_KEYS) {
    let v = c[k];
    if (k === 'Labels' && v && typeof v === 'object') {
      const labels = { ...(v as Record<string, string>) };
      for (const l of BUILDAH_LABELS) delete labels[l];
      v = labels;
    }
    const empty = v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
    if (!empty) out[k] = v;
  }
  return out;
}

let work: string;
let tsRoot: string;
let store: Store;
let busyboxLayout: string;
const limit = pLimit(3);

interface Built {
  files: Map<string, FileEntry>;
  config: Config;
}

async function buildWithTsbuild(name: string, ctx: string, dockerfile: string, args: string[]): Promise<Built> {
  const t = Date.now();
  const r = await runCli(['--root', tsRoot, 'build', '--progress', 'plain', '-t', `parity-${name}`, '-f', dockerfile, ...args, ctx]);
  if (process.env.PARITY_DEBUG) console.log(`tsbuild build ${name} ${Date.now() - t} ms`);
  if (r.code !== 0) throw new Error(`tsbuild build ${name} failed (${r.code}):\n${r.stderr}`);
  const img = await loadImage(store, `parity-${name}`);
  const files = await flatten(img.layers.map((l) => ({ mediaType: l.descriptor.mediaType, open: () => store.blobs.open(l.descriptor.digest) })));
  return { files, config: (img.config.config ?? {}) as Config };
}

/**
 * A buildah storage per case: one shared storage serialises the builds on its lock. Pulling the base
 * from the OCI layout takes well under a second.
 */
async function buildah(what: string, storage: string, a: string[]): Promise<string> {
  const b = ['--root', join(storage, 'root'), '--runroot', join(storage, 'runroot'), '--storage-driver', 'vfs'];
  try {
    return (await execFileP('buildah', [...b, ...a], { maxBuffer: 64 << 20, env: { ...process.env, BUILDAH_ISOLATION: 'chroot' } })).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`buildah ${a[0]} for ${what} failed: ${err.stderr ?? err.message}`);
  }
}

async function buildWithBuildah(name: string, ctx: string, dockerfile: string, args: string[]): Promise<Built> {
  const dir = join(work, 'buildah', name);
  await mkdir(dir, { recursive: true });
  const run = async (a: string[]) => {
    const t = Date.now();
    const out = await buildah(name, dir, a);
    if (process.env.PARITY_DEBUG) console.log(`buildah ${a[0]} ${name} ${Date.now() - t} ms`);
    return out;
  };
  const id = (await run(['pull', '-q', `oci:${busyboxLayout}:latest`])).trim();
  await run(['tag', id, 'docker.io/library/busybox:latest']);
  // Without --layers buildah commits once at the end instead of once per step (a full copy each
  // under vfs), several times faster; the flattened result is the same.
  // --format docker: the OCI format drops HEALTHCHECK, SHELL and ONBUILD, which Docker keeps.
  await run(['bud', '--format', 'docker', '--pull=false', '--isolation', 'chroot', '--network', 'host', '-f', dockerfile, '-t', `parity-${name}`, ...args, ctx]);
  const info = JSON.parse(await run(['inspect', '--type', 'image', `parity-${name}`])) as { Docker: { config: Config } };
  const layout = join(dir, 'oci');
  await run(['push', `parity-${name}`, `oci:${layout}`]);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const blob = (d: string) => join(layout, 'blobs', ...d.split(':'));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0]!.digest), 'utf8')) as { layers: { digest: string; mediaType: string }[] };
  const files = await flatten(manifest.layers.map((l) => ({ mediaType: l.mediaType, open: () => createReadStream(blob(l.digest)) })));
  return { files, config: info.Docker.config };
}

interface Case {
  name: string;
  /** Extra preparation of the copied context: modes, symlinks, empty dirs, archives (git keeps none of these). */
  prepare?: (ctx: string) => Promise<void>;
  args?: string[];
  /**
   * Paths where buildah deviates from Docker/BuildKit: what Docker gives (as `describeEntry` prints it,
   * or 'absent'), asserted on our image instead of buildah's, and why.
   */
  exceptions?: Record<string, { docker: string; why: string }>;
  /** Config fields where buildah deviates: Docker's value, asserted on ours instead, and why. */
  configExceptions?: Record<string, { docker: unknown; why: string }>;
}

const WORKDIR_AS_USER = 'BuildKit creates a WORKDIR when the instruction runs, owned by the USER in effect; buildah creates it as root';
const VOLUME_DIRS = 'VOLUME only records config in Docker; buildah also creates the directories in the layer';
const LAZY_WORKDIR = 'buildah creates a WORKDIR only when a later RUN needs it (as that RUN\'s user), BuildKit at the WORKDIR instruction, as the USER then in effect';

const CASES: Case[] = [
  {
    name: 'copy-paths',
    prepare: async (ctx) => {
      await chmod(join(ctx, 'b.txt'), 0o600);
      await chmod(join(ctx, 'exec.sh'), 0o755);
      await chmod(join(ctx, 'dir/sub'), 0o750);
      await mkdir(join(ctx, 'dir/empty'), { mode: 0o700 });
      await chmod(join(ctx, 'dir/empty'), 0o700);
      await symlink('x', join(ctx, 'dir/link-to-x'));
      await symlink('/etc/passwd', join(ctx, 'abs-link'));
    },
  },
  { name: 'copy-existing' },
  { name: 'chown-chmod', prepare: async (ctx) => chmod(join(ctx, 'dir/x'), 0o640) },
  {
    name: 'add-archives',
    prepare: async (ctx) => {
      const src = join(ctx, '..', 'tarsrc');
      await mkdir(join(src, 'pkg/bin'), { recursive: true });
      execFileSync('sh', ['-c', `cd ${src} && echo inside > pkg/inside.txt && echo '#!/bin/sh' > pkg/bin/tool && chmod 4755 pkg/bin/tool && chmod 0750 pkg && ln -s inside.txt pkg/link && ln pkg/inside.txt pkg/hard && mkdir pkg/emptydir`]);
      execFileSync('tar', ['-C', src, '--owner=42', '--group=43', '--numeric-owner', '-czf', join(ctx, 'pkg.tar.gz'), 'pkg']);
      execFileSync('tar', ['-C', src, '--owner=7', '--group=8', '--numeric-owner', '-cf', join(ctx, 'pkg.tar'), 'pkg']);
      await rm(src, { recursive: true });
    },
  },
  {
    name: 'workdir-user',
    exceptions: {
      '/created-as-nobody': { docker: 'directory 0755 65534:65534', why: WORKDIR_AS_USER },
      '/created-as-nobody/sub': { docker: 'directory 0755 1000:1000', why: WORKDIR_AS_USER },
    },
  },
  {
    name: 'expansion',
    args: ['--build-arg', 'PORT=9090'],
    exceptions: {
      '/opt/app/bin': { docker: 'directory 0755 0:0', why: LAZY_WORKDIR },
      '/opt/app/bin/demo-dir': { docker: 'directory 0755 0:0', why: LAZY_WORKDIR },
      '/opt/app/data': { docker: 'absent', why: VOLUME_DIRS },
    },
    configExceptions: {
      Env: {
        docker: ['PATH=/opt/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP=/opt/app/bin', 'NAME=demo', 'EMPTY=', 'QUOTED=a b  c'],
        why: 'Docker replaces a redefined variable in place; buildah moves it to the end',
      },
      ExposedPorts: {
        docker: { '9090/tcp': {}, '9090/udp': {}, '9000/tcp': {}, '9001/tcp': {} },
        why: 'Docker expands a port range into its ports; buildah keeps "9000-9001/tcp" as one key',
      },
    },
  },
  { name: 'multistage' },
  { name: 'layers-rm' },
  {
    name: 'links-modes',
    exceptions: {
      // `ln /bin/busybox /bb-hardlink` links to a file of a lower layer: on overlay (Docker's overlay2,
      // and ours) the link copies /bin/busybox up, so the layer holds both names as one hardlink pair;
      // buildah's vfs diff stores only the new name. The flattened content and modes are the same.
      '/bb-hardlink': { docker: 'file 0755 0:0 3d9f2889d6782537 hardlink /bb-hardlink', why: 'overlay copy-up of a hardlinked lower file' },
      '/bin/busybox': { docker: 'file 0755 0:0 3d9f2889d6782537 hardlink /bb-hardlink', why: 'overlay copy-up of a hardlinked lower file' },
      // A later RUN's chmod/chown of /h1 copies only /h1 up on overlay (links break on copy-up, as
      // under Docker's overlay2); vfs copies the whole tree and keeps the link, so buildah changes all names.
      '/h2': { docker: 'file 0644 0:0 91ee5e9f42ba3d34 hardlink /h1', why: 'overlay copy-up breaks hardlinks from lower layers' },
      '/hd/h3': { docker: 'file 0644 0:0 91ee5e9f42ba3d34 hardlink /h1', why: 'overlay copy-up breaks hardlinks from lower layers' },
    },
  },
  { name: 'config-a' },
  {
    name: 'config-b',
    configExceptions: {
      Cmd: { docker: ['/bin/sh', '-xc', 'hello world'], why: 'the shell form of CMD uses the SHELL instruction (Dockerfile reference); buildah uses /bin/sh -c' },
    },
  },
  {
    name: 'config-c',
    exceptions: {
      '/w': { docker: 'directory 0755 0:0', why: LAZY_WORKDIR },
      '/json vol': { docker: 'absent', why: VOLUME_DIRS },
      '/value with  spaces': { docker: 'absent', why: VOLUME_DIRS },
    },
  },
  { name: 'onbuild' },
  {
    name: 'context-meta',
    exceptions: {
      '/modes/setuid.sh': {
        docker: 'file 04755 0:0 cbc80bb5c0c0f894',
        why: "Docker keeps a context file's setuid bit; buildah's copier chowns after it chmods, and the chown clears the bit",
      },
    },
    prepare: async (ctx) => {
      // Ownership, special bits, hardlinks and symlinks in the context, which git does not keep.
      execFileSync('sh', [
        '-c',
        [
          `cd ${ctx}`,
          'chown -R 1234:5678 tree',
          'chmod 4755 setuid.sh',
          'echo odd > odd-mode && chmod 0407 odd-mode',
          'chmod 1777 tree/deep',
          'ln tree/one tree/one-hardlink',
          'ln -s one tree/link-rel',
          'ln -s tree link-to-tree',
          'ln -s tree/one link-to-one',
        ].join(' && '),
      ]);
    },
  },
  {
    name: 'misc',
    args: ['--build-arg', 'LATE=given'],
    configExceptions: {
      Entrypoint: { docker: ['/bin/sh', '-ec', 'exec echo "from shell form"'], why: 'the shell form of ENTRYPOINT uses the SHELL instruction (Dockerfile reference); buildah uses /bin/sh -c' },
    },
    prepare: async (ctx) => {
      const src = join(ctx, '..', 'tarsrc');
      await mkdir(join(src, 'pkg'), { recursive: true });
      execFileSync('sh', ['-c', `cd ${src} && echo inside > pkg/f && chmod 0600 pkg/f && mkdir -m 2775 pkg/shared`]);
      execFileSync('tar', ['-C', src, '--owner=3', '--group=4', '--numeric-owner', '-cjf', join(ctx, 'pkg.tar.bz2'), 'pkg']);
      execFileSync('tar', ['-C', src, '--numeric-owner', '-cJf', join(ctx, 'pkg.tar.xz'), 'pkg']);
      // gzip of something that is not a tar: Docker copies it as it is.
      execFileSync('sh', ['-c', `echo just text | gzip -n > ${join(ctx, 'not-a-tar.gz')} && cp ${join(ctx, 'not-a-tar.gz')} ${join(ctx, 'not-a-tar.tar.gz')}`]);
      await rm(src, { recursive: true });
    },
  },
];

/**
 * Mount points buildah's chroot isolation leaves in every RUN layer (empty files and /run); Docker
 * never commits them. Ignored only where tsbuild has nothing there and buildah's entry is empty.
 */
const BUILDAH_RUN_MOUNTPOINTS = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/run']);
const EMPTY_SHA = createHash('sha256').digest('hex').slice(0, 16);
function buildahArtifact(p: string, ours: FileEntry | undefined, theirs: FileEntry | undefined): boolean {
  return BUILDAH_RUN_MOUNTPOINTS.has(p) && !ours && !!theirs && (theirs.type === 'directory' || theirs.sha === EMPTY_SHA);
}

const results = new Map<string, Promise<{ ours: Built; theirs: Built }>>();

beforeAll(async () => {
  if (!haveBuildah) return;
  // Lower case: buildah names an image pulled from an OCI layout after its path.
  work = join(tmpdir(), `tsbuild-parity-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(work);
  tsRoot = join(work, 'store');
  store = await openStore(tsRoot);
  busyboxLayout = join(work, 'busybox');
  execFileSync(join(repo, 'testdata/make-busybox-image.sh'), [busyboxLayout]);
  await loadOciLayout(store, busyboxLayout, { defaultName: 'busybox:latest' });
  for (const c of CASES) {
    const ctx = join(work, 'ctx', c.name, 'ctx');
    const p = (async () => {
      await mkdir(ctx, { recursive: true });
      if (existsSync(join(cases, c.name, 'ctx'))) await cp(join(cases, c.name, 'ctx'), ctx, { recursive: true });
      await c.prepare?.(ctx);
      const dockerfile = join(cases, c.name, 'Dockerfile');
      const [ours, theirs] = await Promise.all([
        limit(() => buildWithTsbuild(c.name, ctx, dockerfile, c.args ?? [])),
        limit(() => buildWithBuildah(c.name, ctx, dockerfile, c.args ?? [])),
      ]);
      return { ours, theirs };
    })();
    p.catch(() => undefined); // reported by the case's own test
    results.set(c.name, p);
  }
}, 300_000);

afterAll(async () => {
  await Promise.allSettled(results.values());
  if (work) await rm(work, { recursive: true, force: true });
});

describe.skipIf(!haveBuildah)('parity with buildah: same Dockerfile, same files and config', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const { ours, theirs } = await results.get(c.name)!;
      const exceptions = c.exceptions ?? {};
      const fileDiff = diffFiles(ours.files, theirs.files, (p, a, b) => buildahArtifact(p, a, b) || p in exceptions);
      for (const [p, x] of Object.entries(exceptions)) {
        const a = ours.files.get(p);
        expect(a ? describeEntry(a) : 'absent', `${p} (${x.why})`).toBe(x.docker);
      }
      const configExceptions = c.configExceptions ?? {};
      const oursConfig = normalizeConfig(ours.config);
      const theirsConfig = normalizeConfig(theirs.config);
      for (const [k, x] of Object.entries(configExceptions)) {
        expect(oursConfig[k], `${k} (${x.why})`).toEqual(x.docker);
        delete oursConfig[k];
        delete theirsConfig[k];
      }
      if (process.env.PARITY_DEBUG) console.log(`${c.name}\n${fileDiff.join('\n')}\n${JSON.stringify(oursConfig)}\n${JSON.stringify(theirsConfig)}`);
      expect(fileDiff).toEqual([]);
      expect(oursConfig).toEqual(theirsConfig);
    }, 300_000);
  }
});
