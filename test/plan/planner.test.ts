import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../src/dockerfile/ast.js';
import type { CopyStep, EnvStep, RunStep } from '../../src/plan/build-graph.js';
import { baseFromImageEnv, DEFAULT_PATH, expandStage } from '../../src/plan/expand-stage.js';
import { PlanError, planBuild } from '../../src/plan/planner.js';
import { arg, copy, dockerfile, env, from, ins, run } from './ast-helpers.js';

const amd64 = { os: 'linux', architecture: 'amd64' };
const plan = (df: ReturnType<typeof dockerfile>, o: Parameters<typeof planBuild>[1] = {}) =>
  planBuild(df, { platform: amd64, buildPlatform: amd64, ...o });

function located(f: () => unknown, line: number, message: RegExp) {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DockerfileError);
    const d = e as DockerfileError;
    expect(d.line).toBe(line);
    expect(d.reason).toMatch(message);
    return;
  }
  throw new Error('expected a DockerfileError');
}

describe('stages and bases', () => {
  it('resolves scratch, images and earlier stages', () => {
    const g = plan(dockerfile(from('busybox:1.36', 'base'), from('scratch'), from('base', 'final')));
    expect(g.stages.map((s) => s.base)).toEqual([{ type: 'image', ref: 'busybox:1.36' }, { type: 'scratch' }, { type: 'stage', index: 0 }]);
    expect(g.stages.map((s) => s.name)).toEqual(['base', undefined, 'final']);
    expect(g.target).toBe(2);
    expect(g.stages.map((s) => s.needed)).toEqual([true, false, true]);
    expect(g.order).toEqual([[0], [2]]);
  });

  it('lower-cases stage names and matches FROM against earlier stages only', () => {
    const g = plan(dockerfile(from('busybox', 'Builder'), from('builder'), from('later'), from('alpine', 'later')));
    expect(g.stages[0]!.name).toBe('builder');
    expect(g.stages[1]!.base).toEqual({ type: 'stage', index: 0 });
    expect(g.stages[2]!.base).toEqual({ type: 'image', ref: 'later' });
  });

  it('expands FROM with global ARGs and build-arg overrides', () => {
    const df = dockerfile(arg('IMG', 'busybox'), arg('TAG', '1.0'), arg('REF', '$IMG:$TAG'), from('${REF}'), from('$IMG:${TAG:-x}-$TARGETARCH'));
    expect(plan(df).stages.map((s) => s.base)).toEqual([
      { type: 'image', ref: 'busybox:1.0' },
      { type: 'image', ref: 'busybox:1.0-amd64' },
    ]);
    const g = plan(df, { buildArgs: { TAG: '2.0' } });
    expect(g.stages[0]!.base).toEqual({ type: 'image', ref: 'busybox:2.0' });
    expect(g.globalArgs).toEqual({ IMG: 'busybox', TAG: '2.0', REF: 'busybox:2.0' });
  });

  it('parses FROM --platform after expansion', () => {
    const g = plan(dockerfile(from('busybox', 'b', { platform: '$BUILDPLATFORM' }), from('busybox', undefined, { platform: 'linux/arm64/v8' })));
    expect(g.stages[0]!.platform).toEqual(amd64);
    expect(g.stages[0]!.platformExplicit).toBe(true);
    expect(g.stages[1]!.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
  });

  it('rejects a blank base, bad names, instructions before FROM, and no stages', () => {
    located(() => plan(dockerfile(arg('X'), from('$X'))), 2, /base name \(\$X\) should not be blank/);
    located(() => plan(dockerfile(from('busybox', '1st'))), 1, /invalid name for build stage/);
    located(() => plan(dockerfile(run('true'), from('busybox'))), 1, /no build stage in current context/);
    located(() => plan(dockerfile(from('Not_A_Ref!'))), 1, /failed to parse stage name/);
    located(() => plan(dockerfile(from('busybox', undefined, { platform: '$NOPE' }))), 1, /empty platform value/);
    expect(() => plan(dockerfile(arg('X')))).toThrow(PlanError);
  });

  it('warns about duplicate stage names and uses the last one for --from', () => {
    const g = plan(dockerfile(from('busybox', 'a'), from('busybox', 'a'), from('scratch'), copy(['/x'], '/x', { from: 'a' })));
    expect(g.warnings.map((w) => w.rule)).toContain('DuplicateStageName');
    expect(g.stages[2]!.dependsOn).toEqual([1]);
  });
});

describe('dependencies, target and waves', () => {
  const df = () =>
    dockerfile(
      from('busybox', 'deps'),
      run('make deps'),
      from('busybox', 'tools'),
      run('make tools'),
      from('busybox', 'build'),
      copy(['/out'], '/deps', { from: 'deps' }),
      run('make', { mount: 'type=bind,from=tools,target=/tools' }),
      from('busybox', 'docs'),
      run('make docs'),
      from('scratch', 'final'),
      copy(['/bin/app'], '/app', { from: '2' }),
      copy(['/etc/ssl'], '/etc/ssl', { from: 'alpine:3.20' }),
      run('x', { mount: ['type=cache,target=/c', 'type=bind,from=golang:1.22,target=/go'] }),
    );

  it('adds COPY --from (name, index, image) and RUN --mount from= edges', () => {
    const g = plan(df());
    expect(g.stages.map((s) => s.dependsOn)).toEqual([[], [], [0, 1], [], [2]]);
    expect(g.stages[4]!.imageDeps).toEqual(['alpine:3.20', 'golang:1.22']);
    const c = g.stages[4]!.steps[0] as CopyStep;
    expect(c.from).toEqual({ type: 'stage', index: 2 });
    expect((g.stages[4]!.steps[1] as CopyStep).from).toEqual({ type: 'image', ref: 'alpine:3.20' });
    const r = g.stages[2]!.steps[1] as RunStep;
    expect(r.mounts).toEqual([{ type: 'bind', from: { type: 'stage', index: 1 }, target: '/tools', readonly: true, required: false }]);
  });

  it('orders independent stages into parallel waves and prunes what the target does not need', () => {
    const g = plan(df());
    expect(g.order).toEqual([[0, 1], [2], [4]]);
    expect(g.stages[3]!.needed).toBe(false);
    const t = plan(df(), { target: 'BUILD' });
    expect(t.target).toBe(2);
    expect(t.order).toEqual([[0, 1], [2]]);
    expect(t.predefinedArgs.TARGETSTAGE).toBe('build');
    expect(() => plan(df(), { target: 'nope' })).toThrow(/target stage "nope" could not be found/);
  });

  it('reports cycles and bad stage indexes at the instruction', () => {
    located(
      () => plan(dockerfile(from('busybox', 'a'), copy(['/x'], '/x', { from: 'b' }), from('busybox', 'b'), copy(['/y'], '/y', { from: 'a' }))),
      2,
      /circular dependency detected on stage: a/,
    );
    located(() => plan(dockerfile(from('busybox', 'a'), copy(['/x'], '/x', { from: 'a' }))), 2, /circular dependency/);
    located(() => plan(dockerfile(from('busybox'), copy(['/x'], '/x', { from: '7' }))), 2, /invalid stage index 7/);
    located(() => plan(dockerfile(from('busybox'), copy(['/x'], '/x', { from: '$X' }))), 2, /variable expansion is not supported for --from/);
    located(() => plan(dockerfile(from('busybox'), run('x', { mount: 'type=bind,from=$X,target=/x' }))), 2, /doesn't support variable expansion/);
  });
});

describe('ARG and ENV scoping', () => {
  it('global ARGs reach FROM only, until redeclared in a stage', () => {
    const g = plan(dockerfile(arg('V', '1'), from('busybox'), copy(['$V'], '/a'), arg('V'), copy(['$V'], '/b')));
    const [c1, , c2] = g.stages[0]!.steps as [CopyStep, unknown, CopyStep];
    expect(c1.sources).toEqual([{ type: 'path', path: '' }]);
    expect(c1.referenced.unmatched).toEqual(['V']);
    expect(c2.sources).toEqual([{ type: 'path', path: '1' }]);
    expect(c2.buildArgs).toEqual({ V: '1' });
  });

  it('stage ARG defaults expand, --build-arg overrides them, and ENV overrides ARG', () => {
    const df = dockerfile(from('busybox'), arg('A', 'a'), arg('B', '${A}-b'), env(['A', 'env']), copy(['$A $B'], '/d'), arg('C'));
    const g = plan(df);
    const c = g.stages[0]!.steps[3] as CopyStep;
    expect(c.sources).toEqual([{ type: 'path', path: 'env a-b' }]);
    expect(c.buildArgs).toEqual({ A: 'a', B: 'a-b' });
    const o = plan(df, { buildArgs: { B: 'over', C: 'c' } });
    expect((o.stages[0]!.steps[3] as CopyStep).sources).toEqual([{ type: 'path', path: 'env over' }]);
    expect(o.stages[0]!.steps[4]).toMatchObject({ kind: 'ARG', args: [{ key: 'C', value: 'c' }] });
  });

  it('ENV pairs all see the environment from before the instruction', () => {
    const g = plan(dockerfile(from('busybox'), env(['abc', 'hello']), env(['abc', 'bye'], ['def', '$abc']), env(['ghi', '$abc'])));
    const steps = g.stages[0]!.steps as EnvStep[];
    expect(steps[1]!.pairs).toEqual([
      { key: 'abc', value: 'bye' },
      { key: 'def', value: 'hello' },
    ]);
    expect(steps[2]!.pairs).toEqual([{ key: 'ghi', value: 'bye' }]);
  });

  it('predefined platform ARGs need a declaration inside a stage', () => {
    const g = plan(dockerfile(from('busybox'), copy(['$TARGETARCH'], '/a'), arg('TARGETARCH'), arg('BUILDPLATFORM'), copy(['$TARGETARCH $BUILDPLATFORM'], '/b')));
    expect((g.stages[0]!.steps[0] as CopyStep).sources).toEqual([{ type: 'path', path: '' }]);
    expect((g.stages[0]!.steps[3] as CopyStep).sources).toEqual([{ type: 'path', path: 'amd64 linux/amd64' }]);
  });

  it('does not expand RUN, but gives it the ARGs and ENV in scope', () => {
    const g = plan(dockerfile(from('busybox'), arg('V', 'x'), env(['E', '$V']), run('echo $V $E')));
    const r = g.stages[0]!.steps[2] as RunStep;
    expect(r.command).toEqual({ form: 'shell', command: 'echo $V $E' });
    expect(r.buildArgs).toEqual({ V: 'x' });
    expect(r.env).toEqual({ PATH: DEFAULT_PATH, V: 'x', E: 'x' });
  });

  it('a stage built FROM another inherits its ARGs and ENV', () => {
    const g = plan(dockerfile(from('busybox', 'a'), arg('V', '1'), env(['E', 'e']), from('a'), copy(['$V$E'], '/')));
    const c = g.stages[1]!.steps[0] as CopyStep;
    expect(c.sources).toEqual([{ type: 'path', path: '1e' }]);
    expect(c.buildArgs).toEqual({ V: '1' });
  });

  it('passes proxy args without declaration and warns about unused build args', () => {
    const g = plan(dockerfile(arg('USED'), from('busybox'), run('x')), { buildArgs: { USED: '1', HTTP_PROXY: 'http://p', STRAY: 'x', TARGETOS: 'linux' } });
    expect(g.proxyEnv).toEqual({ HTTP_PROXY: 'http://p' });
    expect(g.warnings.filter((w) => w.rule === 'UnusedBuildArg').map((w) => w.message)).toEqual(['One or more build-args [STRAY] were not consumed']);
  });

  it('locates expansion errors', () => {
    located(() => plan(dockerfile(from('busybox'), run('x'), copy(['${NEED:?set NEED}'], '/'))), 3, /NEED: set NEED/);
    located(() => plan(dockerfile(arg('X', '${'), from('busybox'))), 1, /missing '}'/);
  });

  it('ignores expansion errors in stages the target does not need', () => {
    const g = plan(dockerfile(from('busybox', 'broken'), copy(['${NEED:?}'], '/'), from('busybox', 'ok')));
    expect(g.target).toBe(1);
    expect(g.warnings.map((w) => w.rule)).toContain('UnusedStageError');
  });
});

describe('expandStage with the base image ENV', () => {
  it('re-expands with the real environment; the structure does not change', () => {
    const df = dockerfile(from('golang:1.22'), env(['PATH', '$PATH:/go/bin']), copy(['$GOPATH/src'], '/src'), run('go build'));
    const g = plan(df);
    expect(g.stages[0]!.provisional).toBe(true);
    expect((g.stages[0]!.steps[0] as EnvStep).pairs[0]!.value).toBe(`${DEFAULT_PATH}:/go/bin`);
    const real = expandStage(g, 0, baseFromImageEnv(['PATH=/usr/local/go/bin:/usr/bin', 'GOPATH=/go']));
    expect((real.steps[0] as EnvStep).pairs[0]!.value).toBe('/usr/local/go/bin:/usr/bin:/go/bin');
    expect((real.steps[1] as CopyStep).sources).toEqual([{ type: 'path', path: '/go/src' }]);
    expect((real.steps[2] as RunStep).env).toEqual({ PATH: '/usr/local/go/bin:/usr/bin:/go/bin', GOPATH: '/go' });
    expect(real.final.env.get('PATH')).toBe('/usr/local/go/bin:/usr/bin:/go/bin');
  });

  it('gives scratch stages the default PATH, as Docker does', () => {
    const g = plan(dockerfile(from('scratch'), env(['P', '$PATH'])));
    expect(g.stages[0]!.provisional).toBe(false);
    expect((g.stages[0]!.steps[0] as EnvStep).pairs[0]!.value).toBe(DEFAULT_PATH);
  });
});

describe('step details', () => {
  it('parses RUN mounts, network and security', () => {
    const g = plan(
      dockerfile(
        from('busybox'),
        arg('CACHE', 'gomod'),
        run('x', {
          mount: ['type=cache,id=$CACHE,target=/root/.cache,sharing=locked,mode=0700,uid=1000', 'type=secret,id=tok,env=TOKEN,required', 'type=tmpfs,target=/t,size=64m', 'type=ssh'],
          network: 'none',
          security: 'insecure',
        }),
      ),
    );
    const r = g.stages[0]!.steps[1] as RunStep;
    expect(r.mounts).toEqual([
      { type: 'cache', id: 'gomod', target: '/root/.cache', sharing: 'locked', mode: 0o700, uid: 1000, readonly: false, required: false },
      { type: 'secret', id: 'tok', env: 'TOKEN', required: true, readonly: true },
      { type: 'tmpfs', target: '/t', size: 64 * 1024 * 1024, readonly: false, required: false },
      { type: 'ssh', readonly: true, required: false },
    ]);
    expect(r.network).toBe('none');
    expect(r.security).toBe('insecure');
    located(() => plan(dockerfile(from('busybox'), run('x', { mount: 'type=bind,mode=0700' }))), 2, /mode not allowed for "bind"/);
    located(() => plan(dockerfile(from('busybox'), run('x', { mount: 'type=nfs' }))), 2, /unsupported mount type/);
    located(() => plan(dockerfile(from('busybox'), run('x', { network: 'bridge' }))), 2, /unsupported network mode/);
  });

  it('expands COPY flags and heredoc sources', () => {
    const df = dockerfile(
      from('busybox'),
      arg('U', 'app'),
      ins('COPY', {
        sources: ['<<EOF', '<<"RAW"', 'src/$U'],
        dest: '/opt/$U/',
        heredocs: [
          { name: 'EOF', content: 'user=$U "q"\n', expand: true, chomp: false },
          { name: 'RAW', content: 'user=$U\n', expand: false, chomp: false },
        ],
      }, { chown: '$U:$U', chmod: '0755', link: null, parents: 'false', exclude: ['*.tmp', '$U'] }),
    );
    const c = plan(df).stages[0]!.steps[1] as CopyStep;
    expect(c.sources).toEqual([
      { type: 'heredoc', name: 'EOF', content: 'user=app "q"\n' },
      { type: 'heredoc', name: 'RAW', content: 'user=$U\n' },
      { type: 'path', path: 'src/app' },
    ]);
    expect(c).toMatchObject({ dest: '/opt/app/', chown: 'app:app', chmod: '0755', link: true, parents: false, exclude: ['*.tmp', '$U'] });
  });

  it('expands EXPOSE into words and the single-word instructions', () => {
    const g = plan(
      dockerfile(
        from('busybox'),
        env(['PORTS', '80/tcp 443']),
        ins('EXPOSE', { ports: ['$PORTS', '53/udp'] }),
        ins('WORKDIR', { path: '${HOME:-/root}/app' }),
        ins('USER', { user: '${UID:-1000}' }),
        ins('VOLUME', { paths: ['/data/$PORTS'] }),
        ins('STOPSIGNAL', { signal: 'SIG${S:-TERM}' }),
        ins('LABEL', { pairs: [{ key: 'k$PORTS', value: '"v w"' }] }),
      ),
    );
    expect(g.stages[0]!.steps.slice(1)).toMatchObject([
      { kind: 'EXPOSE', ports: ['80/tcp', '443', '53/udp'] },
      { kind: 'WORKDIR', path: '/root/app' },
      { kind: 'USER', user: '1000' },
      { kind: 'VOLUME', paths: ['/data/80/tcp 443'] },
      { kind: 'STOPSIGNAL', signal: 'SIGTERM' },
      { kind: 'LABEL', pairs: [{ key: 'k80/tcp 443', value: 'v w' }] },
    ]);
  });

  it('parses HEALTHCHECK durations', () => {
    const g = plan(dockerfile(from('busybox'), ins('HEALTHCHECK', { test: { type: 'CMD', command: { form: 'exec', args: ['true'] } } }, { interval: '1m30s', timeout: '500ms', retries: '3' })));
    expect(g.stages[0]!.steps[0]).toMatchObject({ kind: 'HEALTHCHECK', interval: 90e9, timeout: 500e6, retries: 3 });
    located(() => plan(dockerfile(from('busybox'), ins('HEALTHCHECK', { test: { type: 'NONE' } }, { interval: '10us' }))), 2, /cannot be less than 1ms/);
  });

  it('runs the parent stage ONBUILD triggers first in a child stage', () => {
    const g = plan(
      dockerfile(
        from('busybox', 'base'),
        ins('ONBUILD', { trigger: copy(['/x'], '/x', { from: 'tools' }) }, {}, 'ONBUILD COPY --from=tools /x /x'),
        from('busybox', 'tools'),
        from('base'),
        run('main'),
      ),
    );
    expect(g.stages[0]!.steps[0]).toMatchObject({ kind: 'ONBUILD', trigger: 'COPY --from=tools /x /x' });
    expect(g.stages[2]!.steps.map((s) => [s.kind, s.onbuild ?? false])).toEqual([
      ['COPY', true],
      ['RUN', false],
    ]);
    expect(g.stages[2]!.dependsOn).toEqual([0, 1]);
  });
});
