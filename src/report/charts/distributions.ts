/**
 * The distribution of one metric per method: every completed run as a dot,
 * the median as a black tick and its 95 % bootstrap CI as a black bar; one row
 * per trace.
 */
import { chart, type Spec } from './common.js';

/** A run's value, and per method the median with its CI. */
export interface DistPoint { method: string; trace: string; value: number }
/** One method's median and its CI. */
export interface DistCI { method: string; trace: string; median: number; lo: number; hi: number }

/** The spec. */
export function distributionChart(title: string, axisTitle: string, points: DistPoint[], cis: DistCI[]): Spec {
  const values = [...points.map((p) => ({ kind: 'run', ...p })), ...cis.map((c) => ({ kind: 'ci', ...c }))];
  const y = { field: 'method', type: 'nominal', title: null, sort: null };
  return chart(title, {
    data: { values },
    facet: { row: { field: 'trace', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left' } } },
    spec: {
      width: 520, height: { step: 22 },
      layer: [
        {
          transform: [{ filter: "datum.kind === 'run'" }],
          mark: { type: 'point', opacity: 0.45, filled: true, size: 30 },
          encoding: {
            y, x: { field: 'value', type: 'quantitative', title: axisTitle, scale: { type: 'symlog' } },
            color: { field: 'method', type: 'nominal', legend: null },
            tooltip: [{ field: 'method' }, { field: 'value', format: ',.1f' }],
          },
        },
        {
          transform: [{ filter: "datum.kind === 'ci'" }],
          mark: { type: 'rule', strokeWidth: 3, color: 'black' },
          encoding: { y, x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' } },
        },
        {
          transform: [{ filter: "datum.kind === 'ci'" }],
          mark: { type: 'tick', color: 'black', thickness: 2, size: 16 },
          encoding: { y, x: { field: 'median', type: 'quantitative' }, tooltip: [{ field: 'method' }, { field: 'median', format: ',.1f' }, { field: 'lo', format: ',.1f' }, { field: 'hi', format: ',.1f' }] },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  });
}
