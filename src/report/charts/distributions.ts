/**
 * The distribution of one duration per method: every run as a dot in the
 * method's colour and shape (a run that did not complete as a hollow mark at
 * "did not complete", the axis's last position), the median as a black tick
 * and its 95 % bootstrap CI as a black bar, the downtime limit as a red rule;
 * one panel per trace × condition, on a log axis with decade ticks.
 */
import { chart, durationAxis, methodEncoding, type Spec } from './common.js';

/** One run: its value in ms, null when it did not complete. */
export interface DistPoint { method: string; condition: string; valueMs: number | null }
/** One method's median and its CI, ms (null or +∞: at "did not complete"). */
export interface DistCI { method: string; condition: string; medianMs: number | null; loMs: number; hiMs: number }
/** A rule to draw in one panel (the downtime limit). */
export interface DistRule { condition: string; ms: number; label: string }

/** The spec; `unitMs` is the axis unit (1: ms, 1000: s). */
export function distributionChart(o: { title: string; caption: string; axisTitle: string; methods: readonly string[]; unitMs: number; points: DistPoint[]; cis: DistCI[]; rules?: DistRule[] }): Spec {
  const ax = durationAxis([...o.points.map((p) => p.valueMs ?? NaN), ...(o.rules ?? []).map((r) => r.ms)], { unitMs: o.unitMs, minMs: o.unitMs === 1 ? 0.1 : 100 });
  const f = (ms: number) => +(ms / o.unitMs).toPrecision(4);
  const values = [
    ...o.points.map((p) => ({ kind: 'run', method: p.method, condition: p.condition, x: ax.at(p.valueMs), value: p.valueMs === null ? 'did not complete' : f(p.valueMs), done: p.valueMs !== null })),
    ...o.cis.map((c) => ({ kind: 'ci', method: c.method, condition: c.condition, x: ax.at(c.medianMs), lo: ax.at(c.loMs), hi: ax.at(c.hiMs), median: c.medianMs === null ? 'did not complete (under half the runs completed)' : f(c.medianMs) })),
    ...(o.rules ?? []).map((r) => ({ kind: 'rule', condition: r.condition, x: ax.at(r.ms), label: r.label })),
  ];
  const y = { field: 'method', type: 'nominal', title: null, sort: [...o.methods] };
  const x = { field: 'x', type: 'quantitative', title: o.axisTitle, scale: ax.scale, axis: ax.axis };
  const { color, shape } = methodEncoding(o.methods, false);
  return chart(o.title, o.caption, {
    data: { values },
    facet: { row: { field: 'condition', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelOrient: 'top', labelFontWeight: 'bold' } } },
    spec: {
      width: 620, height: { step: 20 },
      layer: [
        {
          transform: [{ filter: "datum.kind === 'rule'" }],
          mark: { type: 'rule', color: '#d62728', strokeDash: [6, 3], strokeWidth: 1.5 },
          encoding: { x, tooltip: [{ field: 'label' }] },
        },
        {
          transform: [{ filter: "datum.kind === 'rule'" }],
          mark: { type: 'text', color: '#d62728', align: 'left', baseline: 'bottom', dx: 3, dy: -2, fontSize: 11 },
          encoding: { x, y: { value: 0 }, text: { field: 'label' } },
        },
        {
          transform: [{ filter: "datum.kind === 'ci'" }],
          mark: { type: 'rule', strokeWidth: 3, color: 'black' },
          encoding: { y, x: { ...x, field: 'lo' }, x2: { field: 'hi' } },
        },
        // Runs that completed, filled; runs that did not, hollow at "did not complete".
        ...[true, false].map((done) => ({
          transform: [{ filter: `datum.kind === 'run' && ${done ? '' : '!'}datum.done` }],
          mark: { type: 'point', filled: done, size: done ? 45 : 70, strokeWidth: 2, opacity: done ? 0.8 : 1 },
          encoding: { y, x, color, shape, tooltip: [{ field: 'method' }, { field: 'value', title: o.axisTitle }] },
        })),
        {
          transform: [{ filter: "datum.kind === 'ci'" }],
          mark: { type: 'tick', color: 'black', thickness: 2, size: 16 },
          encoding: { y, x, tooltip: [{ field: 'method' }, { field: 'median', title: `median ${o.axisTitle}` }] },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  });
}
