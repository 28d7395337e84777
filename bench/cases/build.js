// Build benchmark: the two contexts of /work/shared/bench/make-contexts.sh (sample, multistage),
// cold (base image present, empty cache), no-op rebuild, and rebuild after editing one copied file,
// each timed as a whole `tsbuild build` process (start-up included), side by side with buildah
// (`buildah bud --isolation chroot --network host --layers --storage-driver overlay`) in the same run.
// Every figure is the median of three runs (the machine is shared): cold builds each in a fresh store,
// no-op and edit rebuilds in the last of those.
// The base image is served by a loopback docker-registry; both builders pull it once before timing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, startDistribution, timed } from '../lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
// The installed command (the launcher npm links as `tsbuild`), so start-up is what users get.
const cli = join(repo, 'bin', 'tsbuild');

/** The machine is shared: repeated figures are reported as their median. */

/** no-op and edit rebuilds are cheap enough to repeat; each edit is a real change of content. */
const REPEAT = 3;

export default async function (ctx) {
  if (!existsSync(join(repo, 'dist'))) throw new Error('run npm run build first');
  const reg = await startDistribution(join(ctx.tmp, 'registry'));
  const host = reg.host;
  try {
    const base = `${host}/library/busybox:latest`;
    execFileSync(join(repo, 'testdata/make-busybox-image.sh'), [join(ctx.tmp, 'bb')], { stdio: 'ignore' });
    execFileSync('skopeo', ['copy', '--dest-tls-verify=false', `oci:${join(ctx.tmp, 'bb')}:latest`, `docker://${base}`], { stdio: 'ignore' });
    const contexts = join(ctx.tmp, 'contexts');
    execFileSync('/work/shared/bench/make-contexts.sh', [contexts, base], { stdio: 'ignore' });

    const results = [];
    for (const name of ['sample', 'multistage']) {
      const dir = join(contexts, name);
      const edit = name === 'sample' ? join(dir, 'files', 'file-001.txt') : join(dir, 'src', 'mod-01.txt');
      const original = readFileSync(edit);

      // tsbuild: fresh stores with the base pulled (base present, cache empty).
      const warm = join(ctx.tmp, `warm-${name}`);
      mkdirSync(warm);
      writeFileSync(join(warm, 'Dockerfile'), `FROM ${base}\nRUN true\n`);
      const build = ['build', '--progress', 'plain', '-t', `bench-${name}`, dir];
      let ts;
      const colds = [];
      for (let i = 0; i < REPEAT; i++) {
        const root = join(ctx.tmp, `ts-${name}-${i}`);
        ts = (args) => timed(cli, ['--root', root, ...args], { env: { ...process.env, TSBUILD_ROOT: root } }).s;
        // Pull (and unpack) the base through a build FROM it: "base present", as for BuildKit and buildah.
        ts(['build', '--progress', 'plain', warm]);
        colds.push(ts(build));
      }
      const tCold = median(colds);
      const tNoop = median(Array.from({ length: REPEAT }, () => ts(build)));
      const edits = [];
      for (let i = 0; i < REPEAT; i++) {
        writeFileSync(edit, Buffer.concat([original, Buffer.from(`edited ${i}\n`)]));
        edits.push(ts(build));
      }
      const tEdit = median(edits);
      writeFileSync(edit, original);

      // buildah, same steps, its own storage.
      const broots = Array.from({ length: REPEAT }, (_, i) => join(ctx.tmp, `bh-${name}-${i}`));
      let bh;
      let bCold, bNoop, bEdit;
      try {
        const bud = ['bud', '--isolation', 'chroot', '--network', 'host', '--layers', '--tls-verify=false', '-t', `bench-${name}`, dir];
        const bColds = [];
        for (const broot of broots) {
          bh = (args) =>
            timed('buildah', ['--root', join(broot, 'root'), '--runroot', join(broot, 'run'), '--storage-driver', 'overlay', ...args], { env: { ...process.env, BUILDAH_ISOLATION: 'chroot' } }).s;
          bh(['pull', '--tls-verify=false', base]);
          bColds.push(bh(bud));
        }
        bCold = median(bColds);
        bNoop = median(Array.from({ length: REPEAT }, () => bh(bud)));
        const bEdits = [];
        for (let i = 0; i < REPEAT; i++) {
          writeFileSync(edit, Buffer.concat([original, Buffer.from(`edited ${i}\n`)]));
          bEdits.push(bh(bud));
        }
        bEdit = median(bEdits);
        writeFileSync(edit, original);
      } catch (e) {
        ctx.log(`buildah failed: ${e.message.split('\n')[0]}`);
      } finally {
        for (const broot of broots) {
          spawnSync('buildah', ['--root', join(broot, 'root'), '--runroot', join(broot, 'run'), '--storage-driver', 'overlay', 'rm', '--all'], { stdio: 'ignore' });
          spawnSync('umount', ['-R', join(broot, 'root', 'overlay')], { stdio: 'ignore' });
        }
      }
      const peer = (v) => (v === undefined ? {} : { buildah: v });
      results.push(
        { name: `${name} cold build`, value: tCold, unit: 's', better: 'lower', peers: peer(bCold) },
        { name: `${name} no-op rebuild`, value: tNoop, unit: 's', better: 'lower', peers: peer(bNoop) },
        { name: `${name} rebuild after editing one file`, value: tEdit, unit: 's', better: 'lower', peers: peer(bEdit) },
      );
      ctx.log(`${name}: tsbuild ${tCold.toFixed(2)} / ${tNoop.toFixed(2)} / ${tEdit.toFixed(2)} s; buildah ${bCold?.toFixed(2)} / ${bNoop?.toFixed(2)} / ${bEdit?.toFixed(2)} s`);
    }
    return results;
  } finally {
    await reg.close();
  }
}
