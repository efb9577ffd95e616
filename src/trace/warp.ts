/**
 * Time warps of a trace's axis. A trace recorded during a real migration
 * carries that migration's effects on the guest: a setup phase that held the
 * vCPU, a CPU throttle. Replaying it through a model that stalls and throttles
 * the guest itself would count them twice (docs/methods.md), so the recorded
 * clock is first mapped back to guest time: from `fromMs` (ms after t = 0 of
 * the trace axis) on, the recorded guest progressed at `rate` (0 = stalled,
 * 0.8 = throttled 20 %) per unit of recorded time; before the first segment,
 * at rate 1.
 */
import type { Trace } from './model.js';
import { isSourced, mapTimes, type AnyTrace } from './source.js';

/** From `fromMs` after t = 0 on, the guest progressed at `rate` per recorded unit of time. */
export interface RateSegment {
  fromMs: number;
  rate: number;
}

/** The warp as a function on the trace's ns axis. */
export function warpFunction(timeZeroNs: number, segments: readonly RateSegment[]): (t: number) => number {
  const segs = [...segments].sort((a, b) => a.fromMs - b.fromMs).map((s) => ({ from: timeZeroNs + s.fromMs * 1e6, rate: s.rate }));
  // Breakpoints with their warped positions.
  const at: { from: number; to: number; rate: number }[] = [];
  let prevFrom = -Infinity;
  let prevTo = 0;
  let prevRate = 1;
  for (const s of segs) {
    const to = prevFrom === -Infinity ? s.from : prevTo + (s.from - prevFrom) * prevRate;
    at.push({ from: s.from, to, rate: s.rate });
    prevFrom = s.from;
    prevTo = to;
    prevRate = s.rate;
  }
  return (t) => {
    let seg: { from: number; to: number; rate: number } | undefined;
    for (const s of at) if (s.from <= t) seg = s;
    if (!seg) return t;
    return seg.to + (t - seg.from) * seg.rate;
  };
}

/** A copy of the trace with every epoch boundary mapped to guest time (integer ns). */
export function warpTrace(trace: Trace, segments: readonly RateSegment[]): Trace {
  if (segments.length === 0) return trace;
  const f = warpFunction(trace.header.meta.timeZeroNs ?? 0, segments);
  return {
    header: { ...trace.header, meta: { ...trace.header.meta, warpedToGuestTime: segments.map((s) => ({ ...s })) } },
    epochs: trace.epochs.map((e) => ({ ...e, t0: Math.round(f(e.t0)), t1: Math.round(f(e.t1)) })),
  };
}

/** Parse `--recorded-throttle 0:100,121.5:0,9768:20` (ms:percent) into rate segments. */
export function parseRecordedThrottle(text: string): RateSegment[] {
  return text.split(',').filter((x) => x.trim() !== '').map((part) => {
    const m = /^\s*(-?[0-9.]+)\s*(?:ms)?\s*:\s*([0-9.]+)\s*%?\s*$/.exec(part);
    if (!m) throw new RangeError(`--recorded-throttle takes ms:percent pairs like 0:100,120:0, not "${part}"`);
    const pct = Number(m[2]);
    if (!(pct >= 0 && pct <= 100)) throw new RangeError(`--recorded-throttle: a percentage from 0 to 100, not ${m[2]}`);
    return { fromMs: Number(m[1]), rate: 1 - pct / 100 };
  });
}

/** The inverse of parseRecordedThrottle, for printing equivalent commands. */
export function formatRecordedThrottle(segments: readonly RateSegment[]): string {
  return segments.map((s) => `${+s.fromMs.toFixed(3)}:${+((1 - s.rate) * 100).toFixed(3)}`).join(',');
}

/** warpTrace for a trace in memory or streamed (a streamed one gets its epoch times mapped on access). */
export function warpAnyTrace(trace: AnyTrace, segments: readonly RateSegment[]): AnyTrace {
  if (!isSourced(trace)) return warpTrace(trace, segments);
  if (segments.length === 0) return trace;
  const f = warpFunction(trace.header.meta.timeZeroNs ?? 0, segments);
  return {
    header: { ...trace.header, meta: { ...trace.header.meta, warpedToGuestTime: segments.map((s) => ({ ...s })) } },
    source: mapTimes(trace.source, (t) => Math.round(f(t))),
  };
}
