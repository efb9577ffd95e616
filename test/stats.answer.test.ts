// The answer of a comparison: tie groups, Holm families, +∞ medians, flags and the
// CI-tolerant Pareto set, on hand-made runs (no simulation): every expectation
// follows from the rules in src/stats/summary.ts and is computed in the comment.
import { describe, expect, it } from 'vitest';
import { compareSpec, type RunRow } from '../src/stats/compare.js';
import { medianInf, pairsNeeded, smallestExactP, summarize } from '../src/stats/summary.js';
import { signedRankP } from '../src/stats/wilcoxon.js';
import type { SimResult } from '../src/sim/result.js';
import type { Trace } from '../src/trace/model.js';

const trace: Trace = {
  header: { pageSize: 4096, nPages: 16, timeUnit: 'ns', epochLen: 1e6, nEpochs: 1, hasTimes: true, hasCounts: false, zeroAtStart: null, meta: {} },
  epochs: [{ t0: 0, t1: 1e9, pages: new Uint32Array() }],
};

/** A run with the given figures (downtime null = did not complete). */
function row(method: string, replicate: number, downtimeMs: number | null, o: Partial<SimResult> = {}, tr = 't', dl = 300): RunRow {
  const completed = downtimeMs !== null;
  return {
    index: 0, trace: tr, traceSha256: null, method, bandwidthBytesPerSec: 2 ** 25, downtimeLimitMs: dl, writeTime: 'uniform', band: false,
    replicate, startGuestNs: 0,
    result: {
      method, completed, converged: completed, stopReason: completed ? 'converged' : 'max-time', totalTimeMs: 1000, downtimeMs,
      setupTimeMs: 0, transferredBytes: 1e6, pagesSent: 0, pagesResent: 0, zeroPagesSent: 0, dirtySyncCount: 1, rounds: [], finalDirtyPages: 0,
      remoteFaults: 0, guestStallMs: 0, maxThrottlePct: 0, traceLooped: false, traceLoops: 0, extra: {}, precopyBytes: 0, downtimeBytes: 0, postcopyBytes: 0,
      provenance: {} as SimResult['provenance'], ...o,
    } as SimResult,
  };
}

function spec(methods: string[], replicates: number, extra: Record<string, unknown> = {}) {
  return { ...compareSpec({ traces: [{ name: 't', trace, sha256: null }], methods, replicates, writeTimeBand: false, ...extra }), writeTimeBand: false };
}

function index(rows: RunRow[]): RunRow[] {
  return rows.map((r, i) => ({ ...r, index: i }));
}

describe('the answer is a tie group', () => {
  it('exact ties are called ties, never broken by name', () => {
    // precopy and qemu-precopy have identical downtimes in 8 pairs: both in the group, "tied exactly".
    const d = [5, 6, 7, 8, 9, 10, 11, 12];
    const runs = index(d.flatMap((v, i) => [row('qemu-precopy', i, v), row('precopy', i, v)]));
    const s = summarize(spec(['qemu-precopy', 'precopy'], 8), runs);
    const r = s.recommendations[0]!;
    expect(r.tied.map((t) => t.method).sort()).toEqual(['precopy', 'qemu-precopy']);
    expect(r.text).toMatch(/tied exactly/);
    expect(r.text).toMatch(/\[QEMU\/libvirt\]/);
    expect(r.text).toMatch(/\[Xen\]/);
  });

  it('a method significantly worse in every pair is not tied; one with mixed pairs is', () => {
    // 8 pairs: A beats C in all 8 → exact p = 2/2^8 = 0.0078; Holm over 2 tests: 2 × 0.0078 = 0.0156 < 0.05.
    // B differs from A by +1, −1 alternately (4 up, 4 down, equal magnitudes → ties: normal approx, p ≈ 1).
    const A = [10, 11, 12, 13, 14, 15, 16, 17];
    const B = A.map((v, i) => v + (i % 2 ? -1 : 1));
    const C = A.map((v) => v + 100);
    const runs = index(A.flatMap((v, i) => [row('qemu-precopy', i, v), row('stop-and-copy', i, B[i]!), row('precopy', i, C[i]!)]));
    const s = summarize(spec(['qemu-precopy', 'stop-and-copy', 'precopy'], 8), runs);
    const r = s.recommendations[0]!;
    expect(r.tied.map((t) => t.method)).toEqual(['qemu-precopy', 'stop-and-copy']);
    expect(r.power).toBeNull();
  });

  it('says when the design cannot reach p < 0.05, and how many start offsets would', () => {
    // 5 pairs: smallest exact p = 2/32 = 0.0625 ≥ 0.05 even for one test.
    expect(smallestExactP(5)).toBe(0.0625);
    expect(pairsNeeded(1)).toBe(6); // 2/64 = 0.031
    expect(pairsNeeded(4)).toBe(8); // 4 × 2/128 = 0.0625 at 7, 4 × 2/256 = 0.031 at 8
    // Distinct differences (90, 92, …, 98: no ties, so the exact test applies): p = 2/32 = 0.0625, tied.
    const runs = index([0, 1, 2, 3, 4].flatMap((i) => [row('qemu-precopy', i, 10 + i), row('precopy', i, 100 + 3 * i)]));
    const r = summarize(spec(['qemu-precopy', 'precopy'], 5), runs).recommendations[0]!;
    expect(r.tied.map((t) => t.method)).toEqual(['qemu-precopy', 'precopy']);
    expect(r.power).toMatch(/with 5 start offsets no paired test .* can reach p < 0\.05 .* --replicates 6 or more/);
  });

  it('--deployable keeps research methods out of the answer; --objective changes the metric', () => {
    const runs = index([0, 1, 2, 3, 4, 5, 6, 7].flatMap((i) => [
      row('qemu-precopy', i, 20 + i, { totalTimeMs: 1000 + i }), row('improved-precopy', i, 5 + i, { totalTimeMs: 9000 + i }),
    ]));
    const all = summarize(spec(['qemu-precopy', 'improved-precopy'], 8), runs).recommendations[0]!;
    expect(all.method).toBe('improved-precopy');
    expect(all.text).toMatch(/improved-precopy \[research\]/);
    expect(summarize(spec(['qemu-precopy', 'improved-precopy'], 8, { deployable: true }), runs).recommendations[0]!.method).toBe('qemu-precopy');
    const t = summarize(spec(['qemu-precopy', 'improved-precopy'], 8, { objective: 'time' }), runs).recommendations[0]!;
    expect(t.method).toBe('qemu-precopy');
    expect(t.text).toMatch(/least median total time/);
  });
});

describe('runs that did not complete', () => {
  it('count as +∞ in a cell\'s median: "–" under half completed, never the survivors\' median', () => {
    // 4 runs, 2 failed: sorted 1, 2, ∞, ∞ → median between 2 and ∞ = ∞ → null.
    const runs = index([row('qemu-precopy', 0, 1), row('qemu-precopy', 1, 2), row('qemu-precopy', 2, null), row('qemu-precopy', 3, null)]);
    const c = summarize(spec(['qemu-precopy'], 4), runs).cells[0]!;
    expect(c.completionRate).toBe(0.5);
    expect(c.downtimeMs.median).toBeNull();
    expect(c.downtimeMs.mean).toBeNull();
    // 3 of 4 completed: 1, 2, 3, ∞ → R-7 median = 2.5 (finite), not the survivors' 2.
    const r2 = index([row('qemu-precopy', 0, 1), row('qemu-precopy', 1, 2), row('qemu-precopy', 2, 3), row('qemu-precopy', 3, null)]);
    const c2 = summarize(spec(['qemu-precopy'], 4), r2).cells[0]!;
    expect(c2.downtimeMs.median).toBe(2.5);
    expect(c2.downtimeMs.ci![1]).toBe(Infinity); // a resample can draw the failed run twice
    expect(medianInf([1, Infinity, Infinity])).toBe(Infinity);
    expect(medianInf([1, 3, Infinity])).toBe(3);
  });
});

describe('flags', () => {
  it('over-limit, stall and looped; an over-limit method is not the answer', () => {
    const runs = index([0, 1, 2, 3, 4, 5].flatMap((i) => [
      row('precopy', i, 400 + i), // over the 300 ms limit
      row('postcopy', i, 1, { guestStallMs: 5000 }), // the guest loses 5 s to faults, far more than its downtime
      row('qemu-precopy', i, 20, { traceLoops: i % 2, traceLooped: i % 2 === 1 }),
    ]));
    const s = summarize(spec(['precopy', 'postcopy', 'qemu-precopy'], 6), runs);
    const f = Object.fromEntries(s.cells.map((c) => [c.method, c.flags]));
    expect(f).toEqual({ precopy: ['over-limit'], postcopy: ['stall'], 'qemu-precopy': ['looped'] });
    expect(s.cells.find((c) => c.method === 'qemu-precopy')!.loopedRuns).toBe(3);
    expect(s.recommendations[0]!.tied.map((t) => t.method)).not.toContain('precopy');
    expect(s.recommendations[0]!.text).toMatch(/postcopy \[QEMU\/libvirt\] \(stall\)/);
  });
});

describe('Holm families and the Pareto set', () => {
  it('Holm runs over one family per trace × condition × metric, not over everything', () => {
    // Two traces, 8 pairs each, stop-and-copy worse in every pair by distinct amounts (no ties: exact test):
    // p = 2/2^8 = 0.0078 each; one test per family → p_Holm 0.0078 (over all 6 tests it would be 0.047).
    const runs = index(['a', 'b'].flatMap((tr) => [0, 1, 2, 3, 4, 5, 6, 7].flatMap((i) => [
      row('precopy', i, 1 + i, {}, tr), row('stop-and-copy', i, 500 + 10 * i * i, {}, tr),
    ])));
    const sp = { ...spec(['precopy', 'stop-and-copy'], 8), traces: ['a', 'b'].map((name) => ({ name, sha256: null, nPages: 16, epochs: 1, durationMs: 1000 })) };
    const s = summarize(sp, runs);
    const d = s.comparisons.filter((c) => c.metric === 'downtimeMs');
    expect(d.length).toBe(2);
    for (const c of d) expect(c.pHolm).toBeCloseTo(2 / 256, 12);
  });

  it('differences inside the CIs are ties: a method 0.04 % slower stays in the Pareto set', () => {
    // Same downtime and bytes; qemu-precopy 0.4 ms (0.04 %) slower in every run. A strict Pareto rule drops
    // it (precopy is no worse anywhere and better in time); the CIs of time overlap, so it is a tie and both stay.
    const runs = index([0, 1, 2, 3, 4, 5, 6, 7].flatMap((i) => [
      row('qemu-precopy', i, 10, { totalTimeMs: 995.4 + i * 1.5 }), row('precopy', i, 10, { totalTimeMs: 995 + i * 1.5 }),
    ]));
    const s = summarize(spec(['qemu-precopy', 'precopy'], 8), runs);
    expect(s.pareto.map((p) => p.method).sort()).toEqual(['precopy', 'qemu-precopy']);
  });
});

describe('Wilcoxon edge cases found against R', () => {
  it('one pair gives p = 1 (R: wilcox.test(1, 0, paired) p = 1), never an exception', () => {
    expect(signedRankP([2], [1])).toBe(1);
  });
  it('the exact p-value never exceeds 1', () => {
    // V at the centre of the null distribution: d = 1, 2, −3 → V = 1 + 2 = 3 = n(n+1)/4; P(V ≥ 3) = 5/8,
    // doubled 1.25 unless capped (R: 1). And d = 1, −2, 3 → V = 4: P(V ≥ 4) = 3/8 → 0.75, as R gives.
    expect(signedRankP([1, 2, -3], [0, 0, 0])).toBe(1);
    expect(signedRankP([1, -2, 3], [0, 0, 0])).toBeCloseTo(0.75, 12);
  });
});

describe('repeat recordings of one workload: recordings are the unit', () => {
  it('the naming rule groups NAME-rN with NAME; --workload names must be compared traces', async () => {
    const { workloadsByName } = await import('../src/stats/compare.js');
    expect(workloadsByName(['light', 'light-r2', 'light-r3', 'medium', 'heavy-r2'])).toEqual([{ name: 'light', traces: ['light', 'light-r2', 'light-r3'] }]);
    expect(() => compareSpecWith([{ name: 'w', traces: ['t', 'nope'] }])).toThrow(/"nope" is not one of the compared traces/);
  });

  it('cluster bootstrap: resampling recordings widens the CI when recordings differ, not when they agree', async () => {
    const { clusterBootstrapCI } = await import('../src/stats/summary.js');
    // Three recordings whose offsets agree within each but differ between them: the CI spans the recordings.
    const apart = clusterBootstrapCI([[10, 10.1, 10.2], [20, 20.1, 20.2], [30, 30.1, 30.2]], 1);
    expect(apart[0]).toBeLessThanOrEqual(10.2);
    expect(apart[1]).toBeGreaterThanOrEqual(29.9);
    const together = clusterBootstrapCI([[10, 10.1, 10.2], [10, 10.1, 10.2], [10, 10.1, 10.2]], 1);
    expect(together[1] - together[0]).toBeLessThanOrEqual(0.2);
  });

  it('a workload cell pools its recordings; the paired test runs on per-recording medians (3 recordings: p ≥ 0.25)', () => {
    const rows = index(['a', 'b', 'c'].flatMap((tr, k) => [0, 1, 2, 3].flatMap((i) => [
      row('precopy', i, 10 + k, {}, tr), row('qemu-precopy', i, 100 + k * 7 + i, {}, tr),
    ])));
    const sp = {
      ...spec(['precopy', 'qemu-precopy'], 4),
      traces: ['a', 'b', 'c'].map((name) => ({ name, sha256: null, nPages: 16, epochs: 1, durationMs: 1000 })),
      workloads: [{ name: 'w', traces: ['a', 'b', 'c'] }],
    };
    const s = summarize(sp, rows);
    const q = s.workloads.find((c) => c.method === 'qemu-precopy')!;
    // Per-recording medians: a 101.5, b 108.5, c 115.5; pooled median of the 12 runs: 108.5.
    expect(q.perRecordingDowntimeMs).toEqual([101.5, 108.5, 115.5]);
    expect(q.downtimeMs.median).toBe(108.5);
    // All three recordings worse than precopy: exact p = 2/2^3 = 0.25.
    expect(q.downtimePHolm).toBeCloseTo(0.25, 12);
    expect(s.workloadIntervals).toMatch(/cluster bootstrap over recordings/);
  });
});

function compareSpecWith(workloads: { name: string; traces: string[] }[]) {
  return compareSpec({ traces: [{ name: 't', trace, sha256: null }], methods: ['precopy'], replicates: 2, workloads });
}
