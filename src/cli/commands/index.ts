import type { Command } from '../command.js';
import { buildCommand } from './build.js';
import { copyCommand } from './copy.js';
import { imagesCommand } from './images.js';
import { inspectCommand } from './inspect.js';
import { loadCommand } from './load.js';
import { loginCommand } from './login.js';
import { logoutCommand } from './logout.js';
import { parseCommand } from './parse.js';
import { planCommand } from './plan.js';
import { pruneCommand } from './prune.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { registryGcCommand } from './registry-gc.js';
import { registryServeCommand } from './registry-serve.js';
import { rmiCommand } from './rmi.js';
import { runCommand } from './run.js';
import { saveCommand } from './save.js';
import { tagCommand } from './tag.js';

/** Every tsbuild command, in the order `tsbuild --help` lists them. */
export const commands: readonly Command[] = [
  buildCommand,
  runCommand,
  imagesCommand,
  inspectCommand,
  tagCommand,
  rmiCommand,
  saveCommand,
  loadCommand,
  pruneCommand,
  pullCommand,
  pushCommand,
  copyCommand,
  loginCommand,
  logoutCommand,
  parseCommand,
  planCommand,
  registryServeCommand,
  registryGcCommand,
];
