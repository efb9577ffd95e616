/**
 * The comparison's tables as CSV, with no Node API (report.ts writes them to
 * disk; the notebooks offer them as downloads): summary.csv, one row per
 * trace × condition × method, and runs.csv, one row per run of the grid.
 */
import * as aq from 'arquero';
import type { RunRow } from '../stats/compare.js';
import { METRICS, type Cell, type CompareSummary, type Comparison } from '../stats/summary.js';

const condKey = (c: { trace: string; bandwidthBytesPerSec: number; downtimeLimitMs: number }) => `${c.trace}|${c.bandwidthBytesPerSec}|${c.downtimeLimitMs}`;

/** A cell's comparison against the baseline on one metric. */
export function cmpOf(sum: CompareSummary, cell: Cell, metric = 'downtimeMs'): Comparison | undefined {
  return sum.comparisons.find((c) => c.metric === metric && c.method === cell.method && condKey(c) === condKey(cell));
}

/** summary.csv: one row per trace × condition × method. */
export function summaryCsv(sum: CompareSummary): string {
  const rows = sum.cells.map((c) => {
    const row: Record<string, unknown> = {
      trace: c.trace, bandwidth_bytes_per_s: c.bandwidthBytesPerSec, downtime_limit_ms: c.downtimeLimitMs, method: c.method,
      runs: c.runs, completed: c.completed, completion_rate: c.completionRate, convergence_rate: c.convergenceRate,
      max_throttle_pct: c.maxThrottlePct, ships: c.ships ?? 'research', flags: c.flags.join(' '), looped_runs: c.loopedRuns,
    };
    for (const m of METRICS) {
      const s = c[m];
      Object.assign(row, { [`${m}_median`]: s.median, [`${m}_q1`]: s.q1, [`${m}_q3`]: s.q3, [`${m}_mean`]: s.mean, [`${m}_ci_lo`]: s.ci?.[0] ?? null, [`${m}_ci_hi`]: s.ci && Number.isFinite(s.ci[1]) ? s.ci[1] : null });
      const k = cmpOf(sum, c, m);
      Object.assign(row, { [`${m}_ratio`]: k?.ratio ?? null, [`${m}_median_diff`]: k?.medianDiff ?? null, [`${m}_p_holm`]: k?.pHolm ?? null, [`${m}_win_rate`]: k?.winRate ?? null });
    }
    return row;
  });
  return aq.from(rows).toCSV();
}

/** runs.csv: one row per run (the write-time band's runs included, band = true), the flat twin of runs.jsonl. */
export function runsCsv(runs: RunRow[]): string {
  const rows = [...runs].sort((a, b) => a.index - b.index).map((r) => ({
    index: r.index, trace: r.trace, method: r.method, bandwidth_bytes_per_s: r.bandwidthBytesPerSec, downtime_limit_ms: r.downtimeLimitMs,
    write_time: r.writeTime, band: r.band, replicate: r.replicate, start_guest_ns: r.startGuestNs,
    completed: r.result.completed, converged: r.result.converged, stop_reason: r.result.stopReason,
    downtime_ms: r.result.downtimeMs, total_time_ms: r.result.totalTimeMs, setup_time_ms: r.result.setupTimeMs,
    transferred_bytes: r.result.transferredBytes, pages_sent: r.result.pagesSent, pages_resent: r.result.pagesResent,
    final_dirty_pages: r.result.finalDirtyPages, dirty_sync_count: r.result.dirtySyncCount, guest_stall_ms: r.result.guestStallMs,
    max_throttle_pct: r.result.maxThrottlePct, trace_loops: r.result.traceLoops, calibration: r.result.provenance.calibration,
  }));
  return aq.from(rows).toCSV();
}
