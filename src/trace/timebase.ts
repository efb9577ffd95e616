/**
 * Mapping a trace timed in guest instructions (lackey: timeUnit
 * 'instructions') onto time, so the replay engine — which runs on ns — can
 * take it: instruction i happens at i / instructionsPerSecond seconds.
 */
import { MIN_EPOCH_NS, TraceError, type Trace, type TraceHeader } from './model.js';
import { epochSource, isSourced, mapTimes, type AnyTrace } from './source.js';

/**
 * Guest speed assumed for instruction-timed traces when none is given:
 * 1e9 instructions/s, one instruction per cycle at 1 GHz — a round figure
 * for a native core, not a measurement of any program.
 */
export const DEFAULT_INSTRUCTIONS_PER_SECOND = 1e9;

/** A copy of an instruction-timed trace on an ns axis; other traces come back unchanged. */
export function instructionsToNs(trace: Trace, instructionsPerSecond: number): Trace;
/** The same for a streamed trace: its epoch times are mapped on access. */
export function instructionsToNs(trace: AnyTrace, instructionsPerSecond: number): AnyTrace;
export function instructionsToNs(trace: AnyTrace, instructionsPerSecond: number): AnyTrace {
  if (trace.header.timeUnit !== 'instructions') return trace;
  if (!(instructionsPerSecond > 0) || !Number.isFinite(instructionsPerSecond)) throw new RangeError(`--instructions-per-second must be a positive number, not ${instructionsPerSecond}`);
  const nsPer = 1e9 / instructionsPerSecond;
  const epochLen = Math.round(trace.header.epochLen * nsPer);
  if (epochLen < 1) throw new RangeError(`--instructions-per-second ${instructionsPerSecond} makes an epoch of ${trace.header.epochLen} instructions shorter than 1 ns; give a lower rate`);
  const tz = trace.header.meta.timeZeroNs;
  const header: TraceHeader = {
    ...trace.header,
    timeUnit: 'ns',
    epochLen,
    meta: {
      ...trace.header.meta,
      ...(typeof tz === 'number' ? { timeZeroNs: Math.round(tz * nsPer) } : {}),
      timeBase: { from: 'instructions', instructionsPerSecond, note: `instruction i at i / ${instructionsPerSecond} s` },
    },
  };
  if (isSourced(trace)) return { header, source: mapTimes(trace.source, (t) => Math.round(t * nsPer)) };
  return { header, epochs: trace.epochs.map((e) => ({ ...e, t0: Math.round(e.t0 * nsPer), t1: Math.round(e.t1 * nsPer) })) };
}

/**
 * Refuse, as bad input (exit 2), a trace no replay can take in bounded time:
 * one without epochs, or an ns-timed one whose epochs are shorter than 1 µs
 * (instruction-timed traces keep their own units until they are mapped).
 */
export function checkReplayable(trace: AnyTrace, file: string): void {
  const src = epochSource(trace);
  if (src.length === 0) throw new TraceError(file, {}, 'at least one epoch to replay, found none (an empty trace)');
  if (trace.header.timeUnit !== 'ns') return;
  const h = trace.header;
  if (!h.hasTimes && h.epochLen < MIN_EPOCH_NS) throw new TraceError(file, {}, `an epoch length of at least ${MIN_EPOCH_NS} ns (1 µs) to replay, found epochLen ${h.epochLen} ns`);
  for (let k = 0; k < src.length; k++) {
    const d = src.t1(k) - src.t0(k);
    if (d > 0 && d < MIN_EPOCH_NS) throw new TraceError(file, {}, `epochs of at least ${MIN_EPOCH_NS} ns (1 µs) to replay, found epoch ${k} lasting ${d} ns`);
  }
  const span = src.t1(src.length - 1) - src.t0(0);
  if (span < MIN_EPOCH_NS) throw new TraceError(file, {}, `a trace lasting at least ${MIN_EPOCH_NS} ns (1 µs) to replay, found ${span} ns`);
}
