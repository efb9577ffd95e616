/**
 * The writable-working-set curve W(t) of each trace: distinct pages written
 * in a window of length t, averaged over window starts (Clark et al. 2005).
 */
import { chart, type Spec } from './common.js';

/** One point of a trace's W(t). */
export interface WtChartPoint { trace: string; windowS: number; pages: number }

/** The spec. */
export function wtChart(points: WtChartPoint[]): Spec {
  return chart('Writable working set W(t)', 'For each trace, the distinct pages written in a window of t seconds, averaged over window starts: a pre-copy round that lasts t must resend about W(t) pages.', {
    data: { values: points },
    width: 480, height: 260,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'windowS', type: 'quantitative', title: 'window t (s)', scale: { type: 'log' } },
      y: { field: 'pages', type: 'quantitative', title: 'distinct pages written (4 KiB)' },
      color: { field: 'trace', type: 'nominal', title: 'trace' },
      tooltip: [{ field: 'trace' }, { field: 'windowS' }, { field: 'pages', format: ',.0f' }],
    },
  });
}
