/**
 * The entry of the start-up snapshot (scripts/build-snapshot.js): a V8 heap with the CLI and the
 * modules a local build runs already loaded and evaluated, which `bin/tsbuild` starts Node from.
 * Start-up then skips resolving, reading, compiling and evaluating a few hundred KB of JavaScript
 * and the Node built-ins it imports (~60 ms of a ~180 ms no-op rebuild).
 *
 * Only loading happens here; nothing may run that reads the machine or the environment, because
 * its result would be frozen into the snapshot. Module top levels therefore only declare things.
 */
import v8 from 'node:v8';
import { main } from './main.js';

/** What a local build imports lazily, in the order it does. */
const warm = [
  import('./commands/build.js'),
  import('../dockerfile/parser.js'),
  import('../plan/planner.js'),
  import('../check/check.js'),
  import('../store/store.js'),
  import('../image/image.js'),
  import('../image/platform.js'),
  import('../store/names.js'),
  import('../build/executor.js'),
  import('../build/progress/index.js'),
  import('../build/context/checksum-cache.js'),
  import('../build/snapshot/detect.js'),
  import('../build/snapshot/layer-cache.js'),
  import('../build/copy/fs-ops.js'),
  import('../build/copy/owner.js'),
  import('../build/runtime/user.js'),
  import('../build/run-step.js'),
  import('../image/layer/write-layer.js'),
];

/**
 * A Dockerfile that uses most of the grammar and the planner. Parsing, planning and linting it
 * here (pure functions: nothing of the machine is read) leaves their functions compiled in the
 * snapshot, so that a build does not compile them first.
 */
const SAMPLE = [
  '# syntax=docker/dockerfile:1',
  'ARG BASE=busybox:latest',
  'FROM ${BASE} AS build',
  'ARG VERSION=1',
  'ENV APP_HOME=/app GREETING="hello world" PATH=/app/bin:$PATH',
  'WORKDIR /app',
  'LABEL org.example.version=${VERSION}',
  'USER 0:0',
  'RUN --mount=type=cache,target=/cache mkdir -p /app/out && echo "$GREETING" > /app/out/a \\',
  ' && for i in 1 2 3; do echo $i; done',
  'COPY --chown=0:0 --chmod=644 files/ /app/files/',
  'ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 https://example.com/x.tar /x',
  'COPY <<END /app/hello',
  'hi',
  'END',
  'EXPOSE 80/tcp 443',
  'VOLUME ["/data"]',
  'HEALTHCHECK --interval=5s CMD ["true"]',
  'SHELL ["/bin/sh", "-c"]',
  '',
  'FROM busybox:latest',
  'COPY --from=build /app/out/ /out/',
  'ENTRYPOINT ["/bin/sh"]',
  'CMD ["-c", "cat /out/a"]',
  'STOPSIGNAL SIGTERM',
  'ONBUILD RUN true',
  '',
].join('\n');

async function warmUp(): Promise<void> {
  await Promise.all(warm);
  const [{ parse }, { planBuild }, { checkDockerfile }] = await Promise.all([import('../dockerfile/parser.js'), import('../plan/planner.js'), import('../check/check.js')]);
  const platform = { os: 'linux', architecture: 'amd64' };
  for (let i = 0; i < 3; i++) {
    const df = parse(SAMPLE, { file: 'Dockerfile' });
    planBuild(df, { platform, buildPlatform: platform, buildArgs: { VERSION: '2' } });
    checkDockerfile(df, { platform, buildArgs: {}, text: SAMPLE, dockerignore: [] });
  }
}

void warmUp();

v8.startupSnapshot.setDeserializeMainFunction(() => {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
});
