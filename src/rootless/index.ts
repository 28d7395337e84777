export { RootlessError } from './errors.js';
export { subIdRanges, type SubIdRange } from './id-map.js';
export { inUserNamespace, ROOTLESS_ENV, RUNTIME_ROOT_ENV, runtimeGlobalArgs } from './namespace.js';
export { checkRootlessPrerequisites, checkUserNamespaces, findOnPath, HOST_PATHS, type HostPaths, type RootlessPlan, type RootlessUser } from './prerequisites.js';
export { needsRootless, reexecRootless, ROOTLESS_COMMANDS } from './reexec.js';
