/**
 * The bundled traces of data/ in Node: their paths inside the installed
 * package, and TraceInputs reading them from disk.
 */
import { fileURLToPath } from 'node:url';
import { bundledTraceFile, type BundledTraceName } from './bundled.js';
import type { TraceInput } from './bytes.js';
import { fileInput } from './node.js';

/** The absolute path of a bundled trace (node_modules/dirtylab/data/NAME.dpt once installed). */
export function bundledTracePath(name: BundledTraceName | string): string {
  return fileURLToPath(new URL('../../data/' + bundledTraceFile(name), import.meta.url));
}

/** A bundled trace as a TraceInput (a file): `readTrace(bundledTrace('medium-bw32-dt300'))`. */
export function bundledTrace(name: BundledTraceName | string): TraceInput {
  return fileInput(bundledTracePath(name));
}
