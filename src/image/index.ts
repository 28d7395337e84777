export * from './digest.js';
export * from './media-types.js';
export * from './platform.js';
export * from './descriptor.js';
export * from './manifest.js';
export * from './image-config.js';
export * from './errors.js';
export * from './reference.js';
