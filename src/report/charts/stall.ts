/**
 * Post-copy's trade: the guest's lost time (waiting on remote pages, throttled
 * or stalled) against the downtime, one mark per run, for the methods that
 * trade one for the other (post-copy and hybrid) next to pre-copy references.
 */
import { chart, durationAxis, methodEncoding, type Spec } from './common.js';

/** One run. */
export interface StallPoint { condition: string; method: string; downtimeMs: number; guestStallMs: number; faults: number }

/** The spec. */
export function stallChart(methods: readonly string[], points: StallPoint[], caption: string): Spec {
  const dx = durationAxis(points.map((p) => p.downtimeMs));
  const gy = durationAxis(points.map((p) => p.guestStallMs));
  const values = points.map((p) => ({ ...p, x: dx.at(p.downtimeMs), y: gy.at(p.guestStallMs) }));
  const { color, shape } = methodEncoding(methods, 'method', [...new Set(points.map((p) => p.method))]);
  return chart('Guest time lost vs downtime, per run', caption, {
    data: { values },
    facet: { column: { field: 'condition', type: 'nominal', title: null, header: { labelFontWeight: 'bold' } } },
    spec: {
      width: 380, height: 260,
      mark: { type: 'point', filled: true, size: 70, opacity: 0.8 },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: 'downtime', scale: { ...dx.scale, domain: [(dx.scale.domain as number[])[0], dx.dnf / 2] }, axis: { ...dx.axis, values: dx.axis.values.slice(0, -1) } },
        y: { field: 'y', type: 'quantitative', title: 'guest time lost', scale: { ...gy.scale, domain: [(gy.scale.domain as number[])[0], gy.dnf / 2] }, axis: { ...gy.axis, values: gy.axis.values.slice(0, -1) } },
        color, shape,
        tooltip: [{ field: 'method' }, { field: 'downtimeMs', format: ',.1f' }, { field: 'guestStallMs', format: ',.1f' }, { field: 'faults', title: 'remote faults' }],
      },
    },
  });
}
