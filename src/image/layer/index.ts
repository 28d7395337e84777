export * from './write-layer.js';
export * from './apply-layer.js';
export * from './store-layer.js';
export * from './compressed-layer.js';
export * from './compression.js';
export * from './whiteout.js';
export { LayerPathError } from './safe-path.js';
