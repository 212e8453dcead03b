// ESM entry of dapr-rs: the CommonJS entry's objects (index.js), by name and as the default export.
export * from './index.js';
export { default } from './index.js';
