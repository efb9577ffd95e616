/**
 * Per-sync dirty pages found and pages sent, one line per method: how each
 * method's rounds shrink (or do not) on one trace, replicate 0, first condition.
 */
import { chart, type Spec } from './common.js';

/** One point: method, sync number, what is counted and how many pages. */
export interface RoundPoint { method: string; sync: number; measure: 'dirty pages found' | 'pages sent'; pages: number }

/** The spec. */
export function roundsChart(trace: string, points: RoundPoint[]): Spec {
  return chart(`Per-sync pages by method — ${trace} (replicate 0)`, {
    data: { values: points },
    facet: { row: { field: 'measure', type: 'nominal', title: null } },
    spec: {
      width: 560, height: 160,
      mark: { type: 'line', point: true, clip: true },
      encoding: {
        x: { field: 'sync', type: 'quantitative', title: 'sync (dirty-sync-count)', axis: { tickMinStep: 1 } },
        y: { field: 'pages', type: 'quantitative', title: 'pages (4 KiB)' },
        color: { field: 'method', type: 'nominal', title: 'method' },
        tooltip: [{ field: 'method' }, { field: 'sync' }, { field: 'measure' }, { field: 'pages', format: ',' }],
      },
    },
    resolve: { scale: { y: 'independent' } },
  });
}
