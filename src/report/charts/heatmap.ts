/**
 * Where and when a guest writes: pages written per cell of guest-address ×
 * time, binned to at most 160 × 160 cells (within the ~500 × 500 asked, and
 * small enough that the SVG and the inlined report stay a few MB).
 */
import { epochSource, type AnyTrace } from '../../trace/source.js';
import { chart, type Spec } from './common.js';

/** One non-empty cell. */
export interface HeatCell { t0: number; t1: number; p0: number; p1: number; writes: number }

/** Bin a trace's writes into ≤ maxBins × maxBins cells (time from the trace's t = 0, s). */
export function heatCells(trace: AnyTrace, maxBins = 160): HeatCell[] {
  const n = trace.header.nPages;
  const src = epochSource(trace);
  const E = src.length;
  const tz = trace.header.meta.timeZeroNs ?? 0;
  const pageBins = Math.min(maxBins, n);
  const timeBins = Math.min(maxBins, E);
  const per = Math.ceil(n / pageBins);
  const perE = Math.ceil(E / timeBins);
  // Cells in a dense array (at most maxBins² of them), key = time bin × pageBins + page bin.
  const cells = new Float64Array(timeBins * pageBins);
  for (let k = 0; k < E; k++) {
    const row = Math.floor(k / perE) * pageBins;
    const pages = src.pages(k);
    for (let i = 0; i < pages.length; i++) cells[row + Math.floor(pages[i]! / per)]!++;
  }
  const out: HeatCell[] = [];
  for (let key = 0; key < cells.length; key++) {
    const writes = cells[key]!;
    if (writes === 0) continue;
    const tb = Math.floor(key / pageBins);
    const pb = key % pageBins;
    out.push({ t0: (src.t0(tb * perE) - tz) / 1e9, t1: (src.t1(Math.min(E, (tb + 1) * perE) - 1) - tz) / 1e9, p0: pb * per, p1: Math.min(n, (pb + 1) * per), writes });
  }
  return out;
}

/** The spec. */
export function heatmapChart(name: string, cells: HeatCell[]): Spec {
  return chart(`Pages written — ${name}`, `Where and when the guest of ${name} writes: each cell counts the pages written in one stretch of guest memory (vertical) during one stretch of time (horizontal), on a log colour scale; empty cells are white.`, {
    data: { values: cells },
    width: 560, height: 300,
    mark: { type: 'rect' },
    encoding: {
      x: { field: 't0', type: 'quantitative', title: 'time since migration start (s)' },
      x2: { field: 't1' },
      y: { field: 'p0', type: 'quantitative', title: 'guest page (4 KiB index)', scale: { zero: true } },
      y2: { field: 'p1' },
      color: { field: 'writes', type: 'quantitative', title: 'pages written', scale: { type: 'log', scheme: 'viridis' } },
      tooltip: [{ field: 't0', title: 'from s', format: '.2f' }, { field: 'p0', title: 'page' }, { field: 'writes' }],
    },
  });
}
