/**
 * Per-sync dirty pages found and pages sent: one small panel per method (its
 * own sync axis, so a method with 200 syncs stays as readable as one with 3),
 * drawn in the method's colour, pages sent solid and dirty pages found
 * dashed; one trace, replicate 0, first condition. A panel's title says when
 * the run did not complete.
 */
import { chart, methodEncoding, type Spec } from './common.js';

/** One point: method, sync number, what is counted and how many pages. */
export interface RoundPoint { method: string; sync: number; measure: 'dirty pages found' | 'pages sent'; pages: number }

/** The spec; `panels` gives each method's panel title, lines split at "|" (e.g. "qemu-precopy|231 syncs · did not complete"). */
export function roundsChart(methods: readonly string[], panels: Record<string, string>, points: RoundPoint[], title: string, caption: string): Spec {
  const { color } = methodEncoding(methods, false);
  const values = points.map((p) => ({ ...p, panel: panels[p.method] ?? p.method }));
  return chart(title, caption, {
    data: { values },
    facet: { field: 'panel', type: 'nominal', title: null, sort: methods.map((m) => panels[m] ?? m), header: { labelFontSize: 11, labelFontWeight: 'bold', labelExpr: "split(datum.value, '|')" } },
    columns: 4, spacing: { column: 30, row: 16 },
    spec: {
      width: 230, height: 110,
      mark: { type: 'line', point: { size: 14, filled: true }, strokeWidth: 1.6, clip: true },
      encoding: {
        x: { field: 'sync', type: 'quantitative', title: 'sync', axis: { tickMinStep: 1, format: 'd', tickCount: 5 }, scale: { zero: false, nice: false } },
        y: { field: 'pages', type: 'quantitative', title: 'pages', axis: { format: '~s', tickCount: 4 } },
        color,
        strokeDash: { field: 'measure', type: 'nominal', title: 'line', legend: null, scale: { domain: ['pages sent', 'dirty pages found'], range: [[1, 0], [4, 3]] } },
        tooltip: [{ field: 'method' }, { field: 'sync' }, { field: 'measure' }, { field: 'pages', format: ',' }],
      },
    },
    resolve: { scale: { x: 'independent' }, axis: { x: 'independent' } },
  });
}
