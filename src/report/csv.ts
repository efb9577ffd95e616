/**
 * Node-free table helpers for the browser entry and notebooks: the same
 * summary.csv and runs.csv as the CLI writes (src/report/tables.ts: one
 * snake_case naming for CSV and Arrow), and the baseline comparison of a cell.
 */
import type { RunRow } from '../stats/compare.js';
import type { Cell, CompareSummary, Comparison } from '../stats/summary.js';
import { RUN_COLUMNS, summaryCsv as tablesSummaryCsv, toCsv } from './tables.js';

const condKey = (c: { trace: string; bandwidthBytesPerSec: number; downtimeLimitMs: number }) => `${c.trace}|${c.bandwidthBytesPerSec}|${c.downtimeLimitMs}`;

/** The comparison of a cell's method with the baseline on one metric. */
export function cmpOf(sum: CompareSummary, cell: Cell, metric = 'downtimeMs'): Comparison | undefined {
  return sum.comparisons.find((c) => c.metric === metric && c.method === cell.method && condKey(c) === condKey(cell));
}

/** summary.csv: one row per trace × condition × method. */
export function summaryCsv(sum: CompareSummary): string {
  return tablesSummaryCsv(sum);
}

/** runs.csv of a list of runs (the CLI's runs.csv for the whole grid). */
export function runsCsv(runs: RunRow[]): string {
  return toCsv(RUN_COLUMNS, runs);
}
