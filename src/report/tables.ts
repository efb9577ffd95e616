/**
 * The flat tables of a comparison, for analysis in pandas, R, DuckDB or
 * Polars: runs.csv/.arrow (one row per run) and summary.csv/.arrow (one row
 * per trace × condition × method). docs/outputs.md lists every column.
 *
 * One naming convention: CSV and Arrow columns are snake_case, and each is
 * the snake_case of the camelCase JSON field it comes from
 * (`totalTimeMs` → `total_time_ms`, `bandwidthBytesPerSec` →
 * `bandwidth_bytes_per_sec`); a summary statistic appends its name
 * (`downtime_ms_median`, `downtime_ms_ci_lo`).
 *
 * Stable types: every column has a declared Arrow type, so a column's type
 * never depends on the data (an all-null column stays Float64, a column of
 * small integers stays Float64 if it holds bytes). Byte and page counts are
 * Float64 (exact to 2^53; they can pass 2^31), small counts Int32, repeated
 * labels Dictionary<Int32, Utf8>.
 */
import { Bool, Dictionary, Float64, Int32, Table, Utf8, tableToIPC, vectorFromArray, type DataType, type Vector } from 'apache-arrow';
import type { CompareRuns, RunRow } from '../stats/compare.js';
import { METRICS, type Cell, type CompareSummary, type Comparison } from '../stats/summary.js';

/** A column's type: how it is written to Arrow (CSV writes every type as text). */
export type ColumnType = 'float64' | 'int32' | 'bool' | 'utf8' | 'dictionary';

/** One column of a flat table: its name, type and how to read it from a row. */
export interface Column<R> {
  name: string;
  type: ColumnType;
  /** The JSON field it comes from (documentation and the naming test). */
  json: string;
  get: (row: R) => number | string | boolean | null;
}

/** `totalTimeMs` → `total_time_ms`: the one rule from JSON names to CSV/Arrow columns. */
export function snakeCase(camel: string): string {
  return camel.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

function col<R>(json: string, type: ColumnType, get: Column<R>['get'], name = snakeCase(json.replace(/\./g, '_'))): Column<R> {
  return { name, type, json, get };
}

const fin = (x: number | null | undefined): number | null => (x === null || x === undefined || !Number.isFinite(x) ? null : x);

/** runs.csv / runs.arrow columns: grid coordinates, then every scalar of the run's SimResult. */
export const RUN_COLUMNS: readonly Column<RunRow>[] = [
  col('index', 'int32', (r) => r.index),
  col('trace', 'dictionary', (r) => r.trace),
  col('traceSha256', 'utf8', (r) => r.traceSha256),
  col('method', 'dictionary', (r) => r.method),
  col('bandwidthBytesPerSec', 'float64', (r) => r.bandwidthBytesPerSec),
  col('downtimeLimitMs', 'float64', (r) => r.downtimeLimitMs),
  col('writeTime', 'dictionary', (r) => r.writeTime),
  col('band', 'bool', (r) => r.band),
  col('replicate', 'int32', (r) => r.replicate),
  col('startGuestNs', 'float64', (r) => r.startGuestNs),
  col('completed', 'bool', (r) => r.result.completed),
  col('converged', 'bool', (r) => r.result.converged),
  col('stopReason', 'dictionary', (r) => r.result.stopReason),
  col('totalTimeMs', 'float64', (r) => r.result.totalTimeMs),
  col('downtimeMs', 'float64', (r) => fin(r.result.downtimeMs)),
  col('setupTimeMs', 'float64', (r) => r.result.setupTimeMs),
  col('transferredBytes', 'float64', (r) => r.result.transferredBytes),
  col('precopyBytes', 'float64', (r) => r.result.precopyBytes),
  col('downtimeBytes', 'float64', (r) => r.result.downtimeBytes),
  col('postcopyBytes', 'float64', (r) => r.result.postcopyBytes),
  col('pagesSent', 'float64', (r) => r.result.pagesSent),
  col('pagesResent', 'float64', (r) => r.result.pagesResent),
  col('zeroPagesSent', 'float64', (r) => r.result.zeroPagesSent),
  col('dirtySyncCount', 'int32', (r) => r.result.dirtySyncCount),
  col('finalDirtyPages', 'float64', (r) => r.result.finalDirtyPages),
  col('remoteFaults', 'float64', (r) => r.result.remoteFaults),
  col('guestStallMs', 'float64', (r) => r.result.guestStallMs),
  col('maxThrottlePct', 'float64', (r) => r.result.maxThrottlePct),
  col('traceLooped', 'bool', (r) => r.result.traceLooped),
  col('traceLoops', 'int32', (r) => r.result.traceLoops),
  col('provenance.calibration', 'dictionary', (r) => r.result.provenance.calibration, 'calibration'),
  col('provenance.network.linkBandwidthBytesPerSec', 'float64', (r) => r.result.provenance.network.linkBandwidthBytesPerSec, 'link_bandwidth_bytes_per_sec'),
];

type SummaryRow = { cell: Cell; sum: CompareSummary };

function cmpOf(sum: CompareSummary, cell: Cell, metric: string): Comparison | undefined {
  return sum.comparisons.find((c) => c.metric === metric && c.method === cell.method && c.trace === cell.trace
    && c.bandwidthBytesPerSec === cell.bandwidthBytesPerSec && c.downtimeLimitMs === cell.downtimeLimitMs);
}

/** summary.csv / summary.arrow columns: the cell, then per metric its statistics and the comparison with the baseline. */
export const SUMMARY_COLUMNS: readonly Column<SummaryRow>[] = [
  col('trace', 'dictionary', ({ cell }) => cell.trace),
  col('bandwidthBytesPerSec', 'float64', ({ cell }) => cell.bandwidthBytesPerSec),
  col('downtimeLimitMs', 'float64', ({ cell }) => cell.downtimeLimitMs),
  col('method', 'dictionary', ({ cell }) => cell.method),
  col('runs', 'int32', ({ cell }) => cell.runs),
  col('completed', 'int32', ({ cell }) => cell.completed),
  col('completionRate', 'float64', ({ cell }) => cell.completionRate),
  col('convergenceRate', 'float64', ({ cell }) => cell.convergenceRate),
  col('maxThrottlePct', 'float64', ({ cell }) => cell.maxThrottlePct),
  col('ships', 'dictionary', ({ cell }) => cell.ships ?? 'research'),
  col('flags', 'utf8', ({ cell }) => cell.flags.join(' ')),
  col('loopedRuns', 'int32', ({ cell }) => cell.loopedRuns),
  col('maxLoops', 'int32', ({ cell }) => cell.maxLoops),
  ...METRICS.flatMap((m): Column<SummaryRow>[] => [
    col<SummaryRow>(`${m}.median`, 'float64', ({ cell }) => fin(cell[m].median)),
    col<SummaryRow>(`${m}.q1`, 'float64', ({ cell }) => fin(cell[m].q1)),
    col<SummaryRow>(`${m}.q3`, 'float64', ({ cell }) => fin(cell[m].q3)),
    col<SummaryRow>(`${m}.mean`, 'float64', ({ cell }) => fin(cell[m].mean)),
    col<SummaryRow>(`${m}.ci.lo`, 'float64', ({ cell }) => fin(cell[m].ci?.[0])),
    // +∞ (the interval reaches runs that did not complete) is written as null.
    col<SummaryRow>(`${m}.ci.hi`, 'float64', ({ cell }) => fin(cell[m].ci?.[1])),
    col<SummaryRow>(`${m}.ratio`, 'float64', ({ cell, sum }) => fin(cmpOf(sum, cell, m)?.ratio)),
    col<SummaryRow>(`${m}.medianDiff`, 'float64', ({ cell, sum }) => fin(cmpOf(sum, cell, m)?.medianDiff)),
    col<SummaryRow>(`${m}.pValue`, 'float64', ({ cell, sum }) => fin(cmpOf(sum, cell, m)?.pValue)),
    col<SummaryRow>(`${m}.pHolm`, 'float64', ({ cell, sum }) => fin(cmpOf(sum, cell, m)?.pHolm)),
    col<SummaryRow>(`${m}.winRate`, 'float64', ({ cell, sum }) => fin(cmpOf(sum, cell, m)?.winRate)),
  ]),
];

function csvCell(v: number | string | boolean | null): string {
  if (v === null) return '';
  if (typeof v === 'string') return /[",\n\r]/.test(v) || v === '' ? `"${v.replace(/"/g, '""')}"` : v;
  return String(v);
}

/** A table as CSV (RFC 4180; null is an empty field, booleans true/false). */
export function toCsv<R>(columns: readonly Column<R>[], rows: readonly R[]): string {
  const lines = [columns.map((c) => c.name).join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvCell(c.get(r))).join(','));
  return lines.join('\n') + '\n';
}

function arrowType(t: ColumnType): DataType {
  switch (t) {
    case 'float64': return new Float64();
    case 'int32': return new Int32();
    case 'bool': return new Bool();
    case 'utf8': return new Utf8();
    case 'dictionary': return new Dictionary(new Utf8(), new Int32());
  }
}

/** A table as an Arrow IPC stream, every column of its declared type. */
export function toArrow<R>(columns: readonly Column<R>[], rows: readonly R[]): Uint8Array {
  const vectors: Record<string, Vector> = {};
  for (const c of columns) vectors[c.name] = vectorFromArray(rows.map((r) => c.get(r)), arrowType(c.type) as DataType) as Vector;
  return tableToIPC(new Table(vectors), 'stream');
}

const summaryRows = (sum: CompareSummary): SummaryRow[] => sum.cells.map((cell) => ({ cell, sum }));

/** summary.csv: one row per trace × condition × method. */
export function summaryCsv(sum: CompareSummary): string {
  return toCsv(SUMMARY_COLUMNS, summaryRows(sum));
}

/** summary.arrow (Arrow IPC stream): the same table, typed. */
export function summaryArrow(sum: CompareSummary): Uint8Array {
  return toArrow(SUMMARY_COLUMNS, summaryRows(sum));
}

/** runs.csv: one row per run, in the grid's canonical order. */
export function runsCsv(r: CompareRuns): string {
  return toCsv(RUN_COLUMNS, r.runs);
}

/** runs.arrow (Arrow IPC stream): the same table, typed. */
export function runsArrow(r: CompareRuns): Uint8Array {
  return toArrow(RUN_COLUMNS, r.runs);
}
