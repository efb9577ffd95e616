/**
 * The workload view of a comparison (repeat recordings grouped): one table
 * per workload × condition, recordings as the unit — the pooled median with a
 * cluster-bootstrap CI, each recording's own median, and the paired test on
 * per-recording medians against the baseline.
 */
import { fmtBw, smallestExactP, type CompareSummary, type WorkloadCell } from '../stats/summary.js';

const f = (x: number | null, d = 1) => (x === null || !Number.isFinite(x) ? '–' : x < 10 ? x.toFixed(d) : x.toFixed(0));

/** The workload tables for a terminal (empty when no workload was grouped). */
export function renderWorkloads(sum: CompareSummary): string {
  if (!sum.workloads.length) return '';
  const out: string[] = [];
  const key = (c: WorkloadCell) => `${c.workload}|${c.bandwidthBytesPerSec}|${c.downtimeLimitMs}`;
  for (const k of [...new Set(sum.workloads.map(key))]) {
    const cells = sum.workloads.filter((c) => key(c) === k);
    const c0 = cells[0]!;
    const n = c0.recordings.length;
    out.push('');
    out.push(`workload ${c0.workload} · ${fmtBw(c0.bandwidthBytesPerSec)} · downtime-limit ${c0.downtimeLimitMs} ms · recordings are the unit`);
    out.push(`  ${n} recordings: ${c0.recordings.join(', ')}`);
    const head = ['method', 'downtime ms [cluster CI]', 'per recording', `p vs ${sum.spec.baseline}`];
    const rows = cells.map((c) => [
      c.method,
      c.downtimeMs.median === null ? '–' : `${f(c.downtimeMs.median)} [${f(c.downtimeMs.ci![0])},${c.downtimeMs.ci![1] === Infinity ? '∞' : f(c.downtimeMs.ci![1])}]`,
      c.perRecordingDowntimeMs.map((v) => f(v)).join(' / '),
      c.method === sum.spec.baseline ? 'base' : c.downtimePHolm === null ? '–' : c.downtimePHolm.toPrecision(2),
    ]);
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    out.push(head.map((h, i) => h.padEnd(w[i]!)).join('  ').trimEnd());
    for (const r of rows) out.push(r.map((v, i) => v.padEnd(w[i]!)).join('  ').trimEnd());
    const m = cells.length - 1;
    if (m > 0 && m * smallestExactP(n) >= 0.05) out.push(...wrap(`  with ${n} recordings no paired test can reach p < 0.05 (smallest Holm-adjusted p ${(m * smallestExactP(n)).toPrecision(2)}): record more repeats to separate methods`));
  }
  if (sum.workloadIntervals) out.push(...wrap(`  ${sum.workloadIntervals}.`));
  return out.join('\n');
}

function wrap(text: string, width = 100): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line.trim() && line.length + 1 + word.length > width) { lines.push(line); line = `    ${word}`; }
    else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}
