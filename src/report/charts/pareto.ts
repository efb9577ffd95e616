/**
 * Median downtime vs median total time per method (methods whose every run
 * completed); the Pareto set (no other method is better in downtime, time and
 * bytes at once) drawn as filled diamonds.
 */
import { chart, type Spec } from './common.js';

/** One method's medians, and whether it is on the Pareto front. */
export interface ParetoPoint { trace: string; method: string; downtimeMs: number; totalTimeS: number; mb: number; pareto: boolean }

/** The spec. */
export function paretoChart(points: ParetoPoint[]): Spec {
  return chart('Downtime vs total time (medians; diamonds: Pareto set over downtime, time and bytes)', {
    data: { values: points },
    facet: { column: { field: 'trace', type: 'nominal', title: null } },
    spec: {
      width: 300, height: 260,
      mark: { type: 'point', filled: true, size: 120, clip: true },
      encoding: {
        x: { field: 'downtimeMs', type: 'quantitative', title: 'median downtime (ms)', scale: { type: 'symlog' } },
        y: { field: 'totalTimeS', type: 'quantitative', title: 'median total time (s)', scale: { zero: false } },
        color: { field: 'method', type: 'nominal', title: 'method' },
        shape: { field: 'pareto', type: 'nominal', title: 'Pareto set', scale: { domain: [true, false], range: ['diamond', 'circle'] } },
        tooltip: [{ field: 'method' }, { field: 'downtimeMs', format: ',.1f' }, { field: 'totalTimeS', format: ',.2f' }, { field: 'mb', title: 'MB', format: ',.1f' }],
      },
    },
    resolve: { scale: { x: 'independent', y: 'independent' } },
  });
}
