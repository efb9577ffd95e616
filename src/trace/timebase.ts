/**
 * Mapping a trace timed in guest instructions (lackey: timeUnit
 * 'instructions') onto time, so the replay engine — which runs on ns — can
 * take it: instruction i happens at i / instructionsPerSecond seconds.
 */
import type { Trace } from './model.js';

/**
 * Guest speed assumed for instruction-timed traces when none is given:
 * 1e9 instructions/s, one instruction per cycle at 1 GHz — a round figure
 * for a native core, not a measurement of any program.
 */
export const DEFAULT_INSTRUCTIONS_PER_SECOND = 1e9;

/** A copy of an instruction-timed trace on an ns axis; other traces come back unchanged. */
export function instructionsToNs(trace: Trace, instructionsPerSecond: number): Trace {
  if (trace.header.timeUnit !== 'instructions') return trace;
  if (!(instructionsPerSecond > 0) || !Number.isFinite(instructionsPerSecond)) throw new RangeError(`--instructions-per-second must be a positive number, not ${instructionsPerSecond}`);
  const nsPer = 1e9 / instructionsPerSecond;
  const epochLen = Math.round(trace.header.epochLen * nsPer);
  if (epochLen < 1) throw new RangeError(`--instructions-per-second ${instructionsPerSecond} makes an epoch of ${trace.header.epochLen} instructions shorter than 1 ns; give a lower rate`);
  const tz = trace.header.meta.timeZeroNs;
  return {
    header: {
      ...trace.header,
      timeUnit: 'ns',
      epochLen,
      meta: {
        ...trace.header.meta,
        ...(typeof tz === 'number' ? { timeZeroNs: Math.round(tz * nsPer) } : {}),
        timeBase: { from: 'instructions', instructionsPerSecond, note: `instruction i at i / ${instructionsPerSecond} s` },
      },
    },
    epochs: trace.epochs.map((e) => ({ ...e, t0: Math.round(e.t0 * nsPer), t1: Math.round(e.t1 * nsPer) })),
  };
}
