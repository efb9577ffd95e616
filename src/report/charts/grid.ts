/**
 * The bandwidth × downtime-limit grid of one method: predicted downtime per
 * cell; cells that do not converge are grey and marked.
 */
import { chart, type Spec } from './common.js';

/** One grid cell. */
export interface GridCell { method: string; bandwidth: string; downtimeLimitMs: number; downtimeMs: number | null; totalTimeS: number | null; verdict: string }

/** The spec. */
export function gridChart(cells: GridCell[]): Spec {
  return chart('Predicted downtime by bandwidth and downtime-limit', 'Each cell is the predicted downtime of one method at one bandwidth and downtime-limit; a grey cell marked × does not converge.', {
    data: { values: cells },
    facet: { column: { field: 'method', type: 'nominal', title: null } },
    spec: {
      width: { step: 56 }, height: { step: 30 },
      layer: [
        {
          mark: { type: 'rect' },
          encoding: {
            x: { field: 'downtimeLimitMs', type: 'ordinal', title: 'downtime-limit (ms)' },
            y: { field: 'bandwidth', type: 'ordinal', title: 'bandwidth', sort: null },
            color: { condition: { test: 'datum.downtimeMs === null', value: '#bbbbbb' }, field: 'downtimeMs', type: 'quantitative', title: 'downtime (ms)', scale: { scheme: 'orangered', type: 'symlog' } },
            tooltip: [{ field: 'method' }, { field: 'bandwidth' }, { field: 'downtimeLimitMs' }, { field: 'downtimeMs', format: ',.1f' }, { field: 'totalTimeS', format: ',.2f' }, { field: 'verdict' }],
          },
        },
        {
          mark: { type: 'text', fontSize: 11 },
          encoding: {
            x: { field: 'downtimeLimitMs', type: 'ordinal' },
            y: { field: 'bandwidth', type: 'ordinal', sort: null },
            text: { condition: { test: 'datum.downtimeMs === null', value: '×' }, field: 'downtimeMs', format: '.0f' },
          },
        },
      ],
    },
  });
}
