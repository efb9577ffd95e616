/**
 * Median downtime vs median total time per method, one panel per trace ×
 * condition: each method in its colour and shape, the Pareto set (no other
 * method better in downtime, time and bytes at once) ringed in black, a
 * method whose runs did not all complete hollow, and one whose median did not
 * complete (under half its runs did) at "did not complete" on both axes.
 */
import { chart, durationAxis, methodEncoding, type Spec } from './common.js';

/** One method's medians (ms; null: did not complete), and whether it is on the Pareto front. */
export interface ParetoPoint { condition: string; method: string; downtimeMs: number | null; totalTimeMs: number | null; mb: number | null; pareto: boolean; allCompleted: boolean }

/** The spec. */
export function paretoChart(methods: readonly string[], points: ParetoPoint[], caption: string, downtimeLimits: { condition: string; ms: number }[]): Spec {
  const dx = durationAxis([...points.map((p) => p.downtimeMs ?? NaN), ...downtimeLimits.map((l) => l.ms)]);
  const ty = durationAxis(points.map((p) => p.totalTimeMs ?? NaN), { unitMs: 1000, minMs: 100, maxMs: 100 });
  const values = [
    ...points.map((p) => ({
      kind: 'method', condition: p.condition, method: p.method, x: dx.at(p.downtimeMs), y: ty.at(p.totalTimeMs), pareto: p.pareto, done: p.allCompleted,
      downtime: p.downtimeMs === null ? 'did not complete' : +p.downtimeMs.toPrecision(4), total: p.totalTimeMs === null ? 'did not complete' : +(p.totalTimeMs / 1000).toPrecision(4), mb: p.mb === null ? '–' : +p.mb.toFixed(1),
    })),
    ...downtimeLimits.map((l) => ({ kind: 'rule', condition: l.condition, x: dx.at(l.ms), label: `downtime-limit ${l.ms} ms` })),
  ];
  const x = { field: 'x', type: 'quantitative', title: 'median downtime', scale: dx.scale, axis: dx.axis };
  const y = { field: 'y', type: 'quantitative', title: 'median total time', scale: ty.scale, axis: ty.axis };
  const { color, shape } = methodEncoding(methods);
  return chart('Downtime vs total time', caption, {
    data: { values },
    facet: { column: { field: 'condition', type: 'nominal', title: null, header: { labelFontWeight: 'bold' } } },
    spacing: 40,
    spec: {
      width: 380, height: 300,
      layer: [
        { transform: [{ filter: "datum.kind === 'rule'" }], mark: { type: 'rule', color: '#d62728', strokeDash: [6, 3], strokeWidth: 1.5 }, encoding: { x, tooltip: [{ field: 'label' }] } },
        { transform: [{ filter: "datum.kind === 'method' && datum.pareto" }], mark: { type: 'point', shape: 'circle', size: 420, color: 'black', strokeWidth: 1.5, filled: false }, encoding: { x, y } },
        // Methods whose every run completed, filled; the others hollow.
        ...[true, false].map((done) => ({
          transform: [{ filter: `datum.kind === 'method' && ${done ? '' : '!'}datum.done` }],
          mark: { type: 'point', filled: done, size: 110, strokeWidth: 2 },
          encoding: {
            x, y, color, shape,
            tooltip: [{ field: 'method' }, { field: 'downtime', title: 'median downtime ms' }, { field: 'total', title: 'median total s' }, { field: 'mb', title: 'median MB' }, { field: 'pareto', title: 'Pareto set' }],
          },
        })),
      ],
    },
  });
}
