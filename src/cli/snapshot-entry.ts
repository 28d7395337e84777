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

void Promise.all(warm);

v8.startupSnapshot.setDeserializeMainFunction(() => {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
});
