/**
 * Post-copy's trade: the guest's lost time (waiting on remote pages, throttled
 * or stalled) against the downtime, one dot per run, for the methods that
 * trade one for the other (post-copy and hybrid) next to pre-copy references.
 */
import { chart, type Spec } from './common.js';

/** One run. */
export interface StallPoint { trace: string; method: string; downtimeMs: number; guestStallMs: number; faults: number }

/** The spec. */
export function stallChart(points: StallPoint[]): Spec {
  return chart('Guest stall vs downtime per run (post-copy and hybrid, with QEMU pre-copy for reference)', {
    data: { values: points },
    facet: { column: { field: 'trace', type: 'nominal', title: null } },
    spec: {
      width: 300, height: 240,
      mark: { type: 'point', filled: true, size: 60, opacity: 0.7 },
      encoding: {
        x: { field: 'downtimeMs', type: 'quantitative', title: 'downtime (ms)', scale: { type: 'symlog' } },
        y: { field: 'guestStallMs', type: 'quantitative', title: 'guest time lost (ms)', scale: { type: 'symlog' } },
        color: { field: 'method', type: 'nominal', title: 'method' },
        tooltip: [{ field: 'method' }, { field: 'downtimeMs', format: ',.1f' }, { field: 'guestStallMs', format: ',.1f' }, { field: 'faults', title: 'remote faults' }],
      },
    },
    resolve: { scale: { x: 'independent', y: 'independent' } },
  });
}
