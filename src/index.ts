/**
 * dirtylab for Node: everything of the browser entry plus file access.
 */
export * from './browser.js';
export { fileInput, writeTraceFile, outputKind } from './trace/node.js';
