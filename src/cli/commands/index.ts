import type { Command } from '../command.js';

/** A command known by name; its module (and everything it imports) loads only when it runs. */
export interface CommandEntry {
  name: string;
  load(): Promise<Command>;
}

// Loading lazily keeps start-up to what one command needs: `tsbuild parse` does not pay for undici,
// the registry server or the build engine.
/** Every tsbuild command, in the order `tsbuild --help` lists them. */
export const commandEntries: readonly CommandEntry[] = [
  { name: 'build', load: async () => (await import('./build.js')).buildCommand },
  { name: 'run', load: async () => (await import('./run.js')).runCommand },
  { name: 'images', load: async () => (await import('./images.js')).imagesCommand },
  { name: 'inspect', load: async () => (await import('./inspect.js')).inspectCommand },
  { name: 'tag', load: async () => (await import('./tag.js')).tagCommand },
  { name: 'rmi', load: async () => (await import('./rmi.js')).rmiCommand },
  { name: 'save', load: async () => (await import('./save.js')).saveCommand },
  { name: 'load', load: async () => (await import('./load.js')).loadCommand },
  { name: 'prune', load: async () => (await import('./prune.js')).pruneCommand },
  { name: 'pull', load: async () => (await import('./pull.js')).pullCommand },
  { name: 'push', load: async () => (await import('./push.js')).pushCommand },
  { name: 'copy', load: async () => (await import('./copy.js')).copyCommand },
  { name: 'login', load: async () => (await import('./login.js')).loginCommand },
  { name: 'logout', load: async () => (await import('./logout.js')).logoutCommand },
  { name: 'parse', load: async () => (await import('./parse.js')).parseCommand },
  { name: 'plan', load: async () => (await import('./plan.js')).planCommand },
  { name: 'registry serve', load: async () => (await import('./registry-serve.js')).registryServeCommand },
  { name: 'registry gc', load: async () => (await import('./registry-gc.js')).registryGcCommand },
];

/** All commands loaded, for the global help and tests. */
export async function loadAllCommands(): Promise<Command[]> {
  return Promise.all(commandEntries.map((e) => e.load()));
}
