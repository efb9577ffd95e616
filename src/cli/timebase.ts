/**
 * `--instructions-per-second` for simulate, compare and grid: traces timed in
 * guest instructions (lackey) are mapped to time before the replay, and the
 * human output says so in its first line.
 */
import { InvalidArgumentError, Option } from 'commander';
import type { Trace } from '../trace/model.js';
import type { AnyTrace } from '../trace/source.js';
import { DEFAULT_INSTRUCTIONS_PER_SECOND, checkReplayable, instructionsToNs } from '../trace/timebase.js';

/** The option, with its default stated in --help (applied by replayTime, so a given value is told apart). */
export function ipsOption(): Option {
  return new Option('--instructions-per-second <n>', `guest speed for traces timed in instructions (lackey): instruction i runs at i / N s (default ${DEFAULT_INSTRUCTIONS_PER_SECOND.toExponential(0).replace('+', '')}, one per cycle at 1 GHz)`)
    .argParser((v: string) => {
      const n = Number(v);
      if (v.trim() === '' || !(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`--instructions-per-second must be a number > 0, not "${v}"`);
      return n;
    });
}

/** A trace on the ns axis the engine needs, and the line to print when it was mapped (else null). */
export function replayTime<T extends AnyTrace = Trace>(trace: T, name: string, ips: number | undefined): { trace: T; note: string | null } {
  checkReplayable(trace, name);
  if (trace.header.timeUnit !== 'instructions') return { trace, note: null };
  const rate = ips ?? DEFAULT_INSTRUCTIONS_PER_SECOND;
  return {
    trace: instructionsToNs(trace as AnyTrace, rate) as T,
    note: `Time base: ${name} is timed in guest instructions; mapped to time at ${rate.toExponential(3).replace('+', '')} instructions/s (${ips === undefined ? 'default; set --instructions-per-second' : '--instructions-per-second'})`,
  };
}

/** replayTime over several traces (compare): mapped traces and one line per mapped trace. */
export function replayTimes<T extends { name: string; trace: AnyTrace }>(traces: T[], ips: number | undefined): { traces: T[]; notes: string[] } {
  const notes: string[] = [];
  const out = traces.map((t) => {
    const r = replayTime<AnyTrace>(t.trace, t.name, ips);
    if (r.note) notes.push(r.note);
    return { ...t, trace: r.trace };
  });
  return { traces: out, notes };
}
