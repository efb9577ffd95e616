/**
 * The importers of other tools' output (docs/dpt-format.md), one file each; the CLI
 * (`dirtylab import FORMAT INPUT -o FILE`) lists what this registry holds, so
 * --help and the code cannot disagree.
 */
import { bitmapDir } from './bitmap-dir.js';
import { calcDirtyRate } from './calc-dirty-rate.js';
import type { ImporterSpec } from './common.js';
import { kvmDirtyRing } from './kvm-dirty-ring.js';
import { lackey } from './lackey.js';
import { qemuTrace } from './qemu-trace.js';
import { queryMigrate } from './query-migrate.js';

/** Every importer, in the order --help lists them. */
export const IMPORTERS: readonly ImporterSpec[] = [lackey, bitmapDir, kvmDirtyRing, qemuTrace, calcDirtyRate, queryMigrate];

/** The importer with this CLI name, or undefined. */
export function getImporter(id: string): ImporterSpec | undefined {
  return IMPORTERS.find((i) => i.id === id);
}

export type { DirInput, ImportContext, ImportOption, ImportResult, ImporterSpec } from './common.js';
