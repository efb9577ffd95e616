/**
 * The registry of copy methods: the CLI, `--help` and `compare` list what is
 * here, so code and help cannot disagree.
 */
import type { MethodSpec } from '../method.js';
import { doubleIteration } from './double-iteration.js';
import { precopy } from './precopy.js';
import { qemuAutoConverge } from './qemu-auto-converge.js';
import { qemuDirtyLimit } from './qemu-dirty-limit.js';
import { qemuPrecopy } from './qemu-precopy.js';
import { stopAndCopy } from './stop-and-copy.js';
import { postcopy } from './postcopy.js';
import { hybrid } from './hybrid.js';
import { improvedPrecopy } from './improved-precopy.js';
import { delayedCopy } from './delayed-copy.js';
import { prediction } from './prediction.js';
import { xbzrle } from './xbzrle.js';
import { nova } from './nova.js';
import { kubevirt } from './kubevirt.js';

/** Every registered method, in presentation order. */
export const METHODS: readonly MethodSpec[] = [stopAndCopy, precopy, qemuPrecopy, qemuAutoConverge, qemuDirtyLimit, xbzrle, postcopy, hybrid, improvedPrecopy, delayedCopy, prediction, doubleIteration, nova, kubevirt];

/** A method by ID. */
export function getMethod(id: string): MethodSpec | undefined {
  return METHODS.find((m) => m.id === id);
}

/** Every runnable method ID, variants spelled out (`double-iteration/confirm`, …). */
export function methodIds(): string[] {
  return METHODS.flatMap((m) => (m.variants ? m.variants.map((v) => `${m.id}/${v}`) : [m.id]));
}
