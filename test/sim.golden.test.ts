// Golden tests of the replay engine and the methods on tiny hand-made traces.
// Every expectation is computed by hand in the comment beside it.
// Units: bandwidth 4,104,000 B/s = one 4096-byte page (+ 8-byte header) per ms.
// Xen's streams (precopy, double-iteration, the research methods) add a header per batch of up to
// 1024 pages: 4 B on the legacy stream (XB below, 4/4104 ms), 16 B on v2 (VB, 16/4104 ms).
// The link (the final copy's speed) is the bandwidth too unless a test says otherwise.
import { beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../src/kernel/index.js';
import { IDEAL, registerCalibration } from '../src/sim/calibration.js';
import { simulate, type SimulateOptions } from '../src/sim/simulate.js';
import { XbzrleCache } from '../src/sim/methods/xbzrle.js';
import { ParamError } from '../src/sim/method.js';
import type { Trace } from '../src/trace/model.js';

const MS = 1e6;
const PAGE_PER_MS = 4104 * 1000; // bytes/s
let kernel: Kernel;
beforeAll(async () => { kernel = await Kernel.load(); });

/** A trace from [t0 ms, t1 ms, pages] epochs. */
function trace(nPages: number, epochs: [number, number, number[]][], zeroAtStart: number[] | null = null): Trace {
  return {
    header: { pageSize: 4096, nPages, timeUnit: 'ns', epochLen: MS, nEpochs: epochs.length, hasTimes: true, hasCounts: false, zeroAtStart: zeroAtStart ? Uint32Array.from(zeroAtStart) : null, meta: {} },
    epochs: epochs.map(([t0, t1, pages]) => ({ t0: t0 * MS, t1: t1 * MS, pages: Uint32Array.from(pages) })),
  };
}

// The link (the final copy's speed) is set to the live bandwidth here unless a test says otherwise,
// so the hand computations count one page per ms throughout (the library's default link is 10 Gbit/s).
function run(t: Trace, method: string, o: Partial<SimulateOptions> = {}, params: Record<string, string> = {}) {
  return simulate(t, { bandwidth: PAGE_PER_MS, linkBandwidth: PAGE_PER_MS, kernel, ...o, method, params: { rtt: '0', 'write-time': 'start', ...params } });
}

const idle = (n: number, ms = 1000) => trace(n, [[0, ms, []]]);
/** One legacy-Xen batch header (int32 count) in ms at one page per ms; XB_BYTES in bytes. */
const XB_BYTES = 4;
const XB = XB_BYTES / 4104;
/** One Xen v2 PAGE_DATA record header (rhdr + page_data_header) in ms; VB_BYTES in bytes. */
const VB_BYTES = 16;
const VB = VB_BYTES / 4104;

describe('stop-and-copy', () => {
  it('takes Σ page costs / link bandwidth, zero pages as 9-byte markers', async () => {
    // 16 pages, 4 zero: 12 × 4104 + 4 × 9 = 49,284 bytes at 4,104,000 B/s = 12.00877… ms, all downtime.
    const r = await run(trace(16, [[0, 100, [1, 2]]], [3, 7, 8, 15]), 'stop-and-copy');
    expect(r.transferredBytes).toBe(49284);
    expect(r.totalTimeMs).toBeCloseTo(49284 / 4104, 9);
    expect(r.downtimeMs).toBeCloseTo(49284 / 4104, 9);
    expect(r.zeroPagesSent).toBe(4);
    expect(r.pagesSent).toBe(16);
    expect(r).toMatchObject({ completed: true, converged: true, stopReason: 'immediate', pagesResent: 0, finalDirtyPages: 16 });
  });

  it('adds device state at link speed, the fixed switchover cost and one rtt', async () => {
    // 16 pages = 16 ms; + 41,040 B of device state = 10 ms; + 2 ms fixed; + 0.5 ms rtt = 28.5 ms.
    const r = await run(idle(16), 'stop-and-copy', {}, { 'device-state': '41040', 'switchover-fixed': '2ms', rtt: '0.5ms' });
    expect(r.downtimeMs).toBeCloseTo(28.5, 9);
  });
});

describe('precopy (Xen)', () => {
  it('an idle guest finishes after one pass', async () => {
    // 64 pages: round 1 sends 64 in one batch (4 + 64 × 4104 B = 64 ms + XB; 64 ≥ 50 so go on), round 2 has
    // nothing (no batch, no header; 0 < 50: converged), the final copy is empty. (Before batch headers: 64 ms.)
    const r = await run(idle(64), 'precopy');
    expect(r).toMatchObject({ completed: true, converged: true, stopReason: 'converged', pagesSent: 64, pagesResent: 0, finalDirtyPages: 0 });
    expect(r.transferredBytes).toBe(64 * 4104 + XB_BYTES);
    expect(r.totalTimeMs).toBeCloseTo(64 + XB, 9);
    expect(r.downtimeMs).toBeCloseTo(0, 9);
    expect(r.dirtySyncCount).toBe(3); // round 1, the clean before round 2, the final clean
  });

  it('v2: a page written every epoch is re-sent every round, until the 5-round limit', async () => {
    // Page 5 is written at every ms (1 ms epochs, write-time start). v2 with min-pages 0:
    // round 1 sends 64 pages (0 to 64 + VB ms), rounds 2–5 send {5} (1 ms + VB each; each spans an
    // integer ms, so a write), then the stop: the final clean finds {5} again → 1 page. 64 + 4 + 1 = 69
    // pages in 6 one-batch records, page 5 sent 6 times (5 re-sends): 69 ms + 6 VB in all, 1 ms + VB
    // downtime, forced by the round limit. (Before batch headers: 69 ms and 1 ms.)
    const epochs: [number, number, number[]][] = Array.from({ length: 200 }, (_, i) => [i, i + 1, [5]]);
    const r = await run(trace(64, epochs), 'precopy', {}, { xen: 'v2', 'min-pages': '0' });
    expect(r).toMatchObject({ completed: true, converged: false, stopReason: 'max-rounds', pagesSent: 69, pagesResent: 5, finalDirtyPages: 1 });
    expect(r.rounds.map((x) => x.pagesSent)).toEqual([64, 1, 1, 1, 1, 1]);
    expect(r.transferredBytes).toBe(69 * 4104 + 6 * VB_BYTES);
    expect(r.totalTimeMs).toBeCloseTo(69 + 6 * VB, 9);
    expect(r.downtimeMs).toBeCloseTo(1 + VB, 9);
  });

  // 16 pages, one per ms. Page 6 is written at 2.5 ms, page 12 at 9.5 ms, nothing else.
  const skipTrace = trace(16, [[0, 2.5, []], [2.5, 9.5, [6]], [9.5, 200, [12]]]);

  it('legacy Xen peeks the log once per batch: a write after the batch began is not seen', async () => {
    // batch = 8. Batch 1 (pages 0–7) peeks at 0 ms: empty, so page 6 goes at 6 ms + XB although written
    // at 2.5. Batch 2 peeks at 8 + XB ms: {6}, not in this batch; page 12 (written 9.5) goes at 12 + 2 XB.
    // Round 1: 16 sent, 0 skipped, 2 batches; 16 < 50 → stop; the final copy sends {6, 12} in one batch:
    // 18 pages, 2 re-sent, 18 ms + 3 XB, downtime 2 ms + XB. (Before batch headers: 18 ms and 2 ms.)
    const r = await run(skipTrace, 'precopy', {}, { batch: '8' });
    expect(r).toMatchObject({ pagesSent: 18, pagesResent: 2, finalDirtyPages: 2, converged: true });
    expect(r.extra.skippedPages).toBe(0);
    expect(r.transferredBytes).toBe(18 * 4104 + 3 * XB_BYTES);
    expect(r.totalTimeMs).toBeCloseTo(18 + 3 * XB, 9);
    expect(r.downtimeMs).toBeCloseTo(2 + XB, 9);
  });

  // 24 pages; pages 2, 5, 9, 13, 17, 21 are written at 23.5 ms, page 13 again at 25.5, page 21 at 26.5.
  const sparseTrace = trace(24, [[0, 23.5, []], [23.5, 25.5, [2, 5, 9, 13, 17, 21]], [25.5, 26.5, [13]], [26.5, 1000, [21]]]);

  it('legacy Xen: a batch is `batch` pages to send, so in a sparse round one peek covers many pfns', async () => {
    // batch = 4, min-pages 0, max-iters 2.
    // Round 1 is dense: 6 batches of 4 pfns, peeks at 0, 4 + XB, …, 20 + 5 XB all find the log empty (the
    // first write is at 23.5, while page 23 is on the wire); 24 sent, 0 skipped, ends at 24 + 6 XB.
    // CLEAN → to_send = {2, 5, 9, 13, 17, 21}.
    // Round 2, to-send batches (xc_domain_save.c): peek 1 at 24 + 6 XB finds the log empty; the batch is
    // the next 4 pages to send, {2, 5, 9, 13}, spanning pfns 2–13 (12 pfns): header, then 2, 5, 9, 13 from
    // 24 + 7 XB to 28 + 7 XB. Page 13 is sent although written at 25.5 (after the peek); 21 is written at
    // 26.5. Peek 2 at 28 + 7 XB finds {13, 21}: the batch from pfn 14 holds {17} alone (21 is skipped,
    // 1 skip), sent 28 + 8 XB to 29 + 8 XB. Round 2: 5 sent, 1 skipped; iter 2 = max-iters → stop at
    // 29 + 8 XB. The final CLEAN finds {13, 21}: one batch, to 31 + 9 XB.
    // 24 + 5 + 2 = 31 pages (7 re-sent) in 6 + 2 + 1 = 9 batches: 31 × 4104 + 9 × 4 B, 31 ms + 9 XB,
    // downtime 2 ms + XB.
    // The old window model (peek per 1024-pfn window, here 4 pfns: [0,4), [4,8), …) would peek before
    // each of these pages: at 24 ({2} sent), 25 ({5}), 26 (log {13}: 9 sent), 27 (log {13, 21}: 13
    // skipped, 17 sent), 28 (21 skipped): round 2 would send 4 and skip 2, final {13, 21}: 30 pages.
    const p = { batch: '4', 'min-pages': '0', 'max-iters': '2' };
    const r = await run(sparseTrace, 'precopy', {}, p);
    expect(r).toMatchObject({ pagesSent: 31, pagesResent: 7, finalDirtyPages: 2, converged: false, stopReason: 'max-rounds', dirtySyncCount: 3 });
    expect(r.rounds.map((x) => x.pagesSent)).toEqual([24, 5, 2]);
    expect(r.extra.skippedPages).toBe(1);
    expect(r.transferredBytes).toBe(31 * 4104 + 9 * XB_BYTES);
    expect(r.totalTimeMs).toBeCloseTo(31 + 9 * XB, 9);
    expect(r.downtimeMs).toBeCloseTo(2 + XB, 9);
    // double-iteration/confirm peeks before every page, like the window model here: round 1 is one batch
    // (24 + XB ms); round 2 sends 2 (24 + 2 XB), 5 (25 + 2 XB: 13's write at 25.5 comes later), 9, skips 13,
    // sends 17, skips 21 (written 26.5): 4 sent, 2 skipped, one batch; final {13, 21}: 30 pages,
    // 30 ms + 3 XB.
    const c = await run(sparseTrace, 'double-iteration/confirm', {}, { 'min-pages': '0', 'max-iters': '2' });
    expect(c).toMatchObject({ pagesSent: 30, pagesResent: 6, finalDirtyPages: 2 });
    expect(c.extra.skippedPages).toBe(2);
    expect(c.totalTimeMs).toBeCloseTo(30 + 3 * XB, 9);
  });

  it('double-iteration/confirm checks each page when its turn comes, and differs from both', async () => {
    // One batch header (XB), then pages 0–5 go at 0–6 ms (+ XB); page 6 is dirty (2.5) → skipped; 7–11 go
    // at 6–11 ms; page 12 is dirty (9.5) → skipped; 13–15 go at 11–14 ms. Round 1: 14 sent, 2 skipped;
    // 16 < 50 → stop; the final copy sends {6, 12} in one batch: 16 pages, none re-sent, 16 ms + 2 XB,
    // downtime 2 ms + XB. (Before batch headers: 16 ms and 2 ms.)
    const r = await run(skipTrace, 'double-iteration/confirm');
    expect(r).toMatchObject({ method: 'double-iteration/confirm', pagesSent: 16, pagesResent: 0, finalDirtyPages: 2 });
    expect(r.extra.skippedPages).toBe(2);
    expect(r.totalTimeMs).toBeCloseTo(16 + 2 * XB, 9);
    expect(r.downtimeMs).toBeCloseTo(2 + XB, 9);
  });

  it('Xen v2 does not skip: the dirty pages go in a second live round', async () => {
    // v2's policy runs before each send with the dirty count (16 at first). With min-pages 10: 16 ≥ 10, so
    // round 1 sends 16 (16 ms + VB); the clean finds {6, 12}: 2 < 10 → stop-and-copy decided, but v2 still
    // sends them live (to 18 ms + 2 VB) and then stops; the final clean is empty (no record). 18 pages,
    // 2 re-sent, 18 ms + 2 VB, downtime 0. (With the default 50, 16 < 50 decides the stop before round 1,
    // which is then sent live anyway, and the final copy takes {6, 12} in one record: downtime 2 ms + VB,
    // checked below.) (Before batch headers: 18 ms and 2 ms.)
    const r = await run(skipTrace, 'precopy', {}, { xen: 'v2', 'min-pages': '10' });
    expect(r).toMatchObject({ pagesSent: 18, pagesResent: 2, finalDirtyPages: 0, converged: true });
    expect(r.totalTimeMs).toBeCloseTo(18 + 2 * VB, 9);
    expect(r.downtimeMs).toBeCloseTo(0, 9);
    const d = await run(skipTrace, 'precopy', {}, { xen: 'v2' });
    expect(d).toMatchObject({ pagesSent: 18, finalDirtyPages: 2, converged: true });
    expect(d.downtimeMs).toBeCloseTo(2 + VB, 9);
  });

  it('Xen\'s streams send a zero page as a full page; QEMU\'s as a 9-byte marker', async () => {
    // 16 pages, 3, 7, 8, 15 zero, an idle guest.
    // precopy (legacy): one batch of 16 in round 1: 4 + 16 × 4104 = 65,668 B (16 ms + XB); 16 < 50 → stop,
    // the final copy is empty. double-iteration/confirm and improved-precopy (the research frame) send
    // the same one batch; v2: 16 + 16 × 4104 = 65,680 B. All count the 4 zero pages in zeroPagesSent.
    // qemu-precopy: 12 × 4104 + 4 × 9 = 49,284 B in the first iterate (12.0088 ms, under the 50 ms MAX_WAIT
    // and the 410,400-byte slot), + an 8-byte EOS; then nothing is pending: completion sends nothing but
    // a second EOS. 49,300 B.
    const t = trace(16, [[0, 1000, []]], [3, 7, 8, 15]);
    const x = await run(t, 'precopy');
    expect(x).toMatchObject({ transferredBytes: 16 * 4104 + XB_BYTES, pagesSent: 16, zeroPagesSent: 4, stopReason: 'converged' });
    expect(x.rounds[0]).toMatchObject({ pagesSent: 16, zeroPages: 4, bytes: 16 * 4104 + XB_BYTES });
    expect(x.totalTimeMs).toBeCloseTo(16 + XB, 9);
    for (const m of ['double-iteration/confirm', 'improved-precopy']) {
      expect(await run(t, m)).toMatchObject({ transferredBytes: 16 * 4104 + XB_BYTES, zeroPagesSent: 4 });
    }
    expect(await run(t, 'precopy', {}, { xen: 'v2' })).toMatchObject({ transferredBytes: 16 * 4104 + VB_BYTES, zeroPagesSent: 4 });
    const q = await run(t, 'qemu-precopy');
    expect(q).toMatchObject({ transferredBytes: 12 * 4104 + 4 * 9 + 2 * 8, pagesSent: 16, zeroPagesSent: 4 });
  });
});

describe('qemu-precopy', () => {
  // 300 pages; the link is 100× the 1-page/ms cap, so each 100 ms slot sends its budget at once.
  // Budget per slot = 410,400 B = 100 pages; the 101st page exceeds it, so 101 pages (+ an 8-byte
  // EOS) go per slot, then the sender sleeps. Bandwidth estimate = (101 × 4104 + 8) B / 100 ms =
  // 4145.12 B/ms; downtime-limit 100 ms → threshold = 414,512 B (101.2 pages of 4096 B).
  // Writes: pages 0–9 at 0 ms; page 1 again at 200.1 ms.
  const t = trace(300, [[0, 50, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]], [50, 200.1, []], [200.1, 1000, [1]]]);
  const o = { linkBandwidth: 100 * PAGE_PER_MS, downtimeLimitMs: 100 };

  it('switches over at the first sync whose pending bytes are below the threshold, not one sync earlier', async () => {
    // 0 ms: threshold 0 → send pages 0–100. 100 ms: pending 199 pages ≥ threshold → send 101–201.
    // 200 ms: pending 98 pages < threshold → sync #2 adds {0..9} → 108 pages ≥ threshold: NOT yet;
    // send 202–299, wrap, 0–2 (101 pages; the sender enters pages 0–2 at 200.98 ms, after page 1's
    // write at 200.1). 300 ms: pending {3..9} = 7 pages < threshold → sync #3 adds {1} (rearm=sync:
    // written after sync #2) → 8 pages, still below → switch over: stop at 300 ms, final sync #4,
    // 8 pages at link speed (0.08 ms) + EOS.
    const r = await run(t, 'qemu-precopy', o);
    expect(r.dirtySyncCount).toBe(4);
    expect(r.rounds.map((x) => x.dirtyPages)).toEqual([0, 10, 1, 0]);
    expect(r.rounds.map((x) => Math.round(x.startMs * 1000) / 1000)).toEqual([0, 200, 300, 300]);
    expect(r.rounds[1]!.remainingPages).toBe(108);
    expect(r).toMatchObject({ completed: true, converged: true, pagesSent: 311, pagesResent: 11, finalDirtyPages: 8 });
    expect(r.transferredBytes).toBe(311 * 4104 + 4 * 8);
    const finalMs = (8 * 4104 + 8) / 4104 / 100;
    expect(r.downtimeMs).toBeCloseTo(finalMs, 9);
    expect(r.totalTimeMs).toBeCloseTo(300 + finalMs, 6);
    expect(r.rounds[1]!.bandwidthBytesPerSec).toBeCloseTo(4145.12 * 1000, 6);
  });

  it('rearm=chunk absorbs a write between a sync and the sender entering its chunk', async () => {
    // Same run with 64-page chunks: sync #2 found page 1 dirty; the sender enters chunk 0 at 200.98 ms
    // and re-arms it then, so page 1's write at 200.1 ms rides along with its send. Sync #3 finds
    // nothing new: 310 pages, final copy 7.
    const r = await run(t, 'qemu-precopy', o, { rearm: 'chunk', 'clear-bitmap-shift': '6' });
    expect(r.rounds.map((x) => x.dirtyPages)).toEqual([0, 10, 0, 0]);
    expect(r).toMatchObject({ pagesSent: 310, finalDirtyPages: 7 });
  });

  it('an idle guest: one pass in the first slot, then completion with the final sync', async () => {
    // 64 pages at 1 page/ms (link = cap): the first iterate may send 50 ms worth (MAX_WAIT) = 51 pages
    // (the 51st exceeds 205,200 B), then 13 more: 64 ms. Threshold is still 0 (no slot has ended), so
    // pending = 0 completes at once, without a live sync: dirty-sync-count = 2 (setup + final).
    const r = await run(idle(64), 'qemu-precopy');
    expect(r.dirtySyncCount).toBe(2);
    expect(r.pagesSent).toBe(64);
    expect(r.totalTimeMs).toBeCloseTo(64 + (3 * 8) / 4104, 9); // + three EOS markers
  });
});

describe('the guest clock and auto-converge', () => {
  it('a 50 % throttle halves the guest clock: only half as many epochs are written per wall second', async () => {
    // Run qemu-auto-converge with 1 ms epochs each writing a new page, but throttle from the start via the
    // engine directly: see test/sim.engine.test.ts. Here: the max-time abort reports how much guest time passed.
    const epochs: [number, number, number[]][] = Array.from({ length: 64 }, (_, i) => [i * 10, (i + 1) * 10, [i]]);
    const r = await run(trace(64, epochs), 'qemu-precopy', { maxTimeMs: 50, onTraceEnd: 'idle' });
    expect(r).toMatchObject({ completed: false, stopReason: 'max-time', downtimeMs: null, guestStallMs: 0 });
  });
});

describe('double-iteration readings that differ from precopy', () => {
  it('two-round-hot holds a page dirty two rounds running', async () => {
    // 64 pages, page 10 written at every ms; min-pages 0, max-iters 4. Every non-empty round is one batch.
    // precopy: rounds send 64, {10}, {10}, {10} (64+1+1+1 ms + 4 XB; each later round spans an integer ms,
    // so a write), stop (4 rounds), final {10}: 68 pages, 68 ms + 5 XB.
    // two-round-hot: R1 64 (to 64 + XB ms), R2 {10} (to 65 + 2 XB), R3: 10 is in D1 ∩ D2 → held, nothing
    // sent (0 ms, no batch), and R3 dirtied nothing (it took no time); R4: 10 is no longer hot → sent (to
    // 66 + 3 XB); stop; final {10} (written at 66): 67 pages, 67 ms + 4 XB, downtime 1 ms + XB.
    // (Before batch headers: 68, 67 and 1 ms.)
    const epochs: [number, number, number[]][] = Array.from({ length: 300 }, (_, i) => [i, i + 1, [10]]);
    const t = trace(64, epochs);
    const p = { 'min-pages': '0', 'max-iters': '4' };
    const a = await run(t, 'precopy', {}, p);
    const b = await run(t, 'double-iteration/two-round-hot', {}, p);
    expect([a.pagesSent, b.pagesSent]).toEqual([68, 67]);
    expect(a.totalTimeMs).toBeCloseTo(68 + 5 * XB, 9);
    expect(b.totalTimeMs).toBeCloseTo(67 + 4 * XB, 9);
    expect(b.downtimeMs).toBeCloseTo(1 + XB, 9);
    expect(b.extra.maxDeferredPages).toBe(1);
    expect(b.stopReason).toBe('max-rounds');
  });

  it('double-final runs one more live round when it shrinks the final set', async () => {
    // 64 pages; pages 20–39 written at 10 ms, page 5 at 80 ms; min-pages 0, max-iters 2. One batch per round.
    // precopy: R1 64 (to 64 + XB), R2 {20..39} (to 84 + 2 XB; page 5 written at 80), stop after 2 rounds,
    // final {5}: 85 pages, 85 ms + 3 XB, downtime 1 ms + XB.
    // double-final: the stop fires after R2 with D2 = {5}; R2 dirtied 1 page in 20 ms + XB; sending D2
    // takes 1 ms (the guard counts pages only), so 1 / (20 + XB) ≈ 0.05 pages are predicted < 1 → one more
    // live round sends {5} (to 85 + 3 XB), dirtying nothing; the final copy is empty: 85 pages, downtime 0.
    // (Before batch headers: 85 ms, 1 ms and exactly 0.05.)
    const t = trace(64, [[0, 10, []], [10, 11, Array.from({ length: 20 }, (_, i) => 20 + i)], [11, 80, []], [80, 1000, [5]]]);
    const p = { 'min-pages': '0', 'max-iters': '2' };
    const a = await run(t, 'precopy', {}, p);
    const c = await run(t, 'double-iteration/double-final', {}, p);
    expect(a.downtimeMs).toBeCloseTo(1 + XB, 9);
    expect(c.downtimeMs).toBeCloseTo(0, 9);
    expect(c.totalTimeMs).toBeCloseTo(85 + 3 * XB, 9);
    expect([a.pagesSent, c.pagesSent]).toEqual([85, 85]);
    expect(c.extra.extraRound).toBe(true);
    expect(c.extra.predictedNextDirty).toBeCloseTo(1 / (20 + XB), 9);
    // When the next set would not shrink, the guard keeps the plain stop; with the guard off the extra round
    // runs anyway. Page 10 is written every ms, page 11 too from 65 ms: R1 (to 64 + XB) dirties {10};
    // R2 sends {10} (to 65 + 2 XB) and dirties {10, 11} (at 65): 2 pages in 1 ms + XB, sending them takes
    // 2 ms → 4 / (1 + XB) ≈ 4 predicted ≥ 2. (This test used page 10 alone, an exact tie of 1 ≥ 1
    // that the batch headers broke: 1 / (1 + XB) < 1.)
    const hot = trace(64, Array.from({ length: 300 }, (_, i) => [i, i + 1, i >= 65 ? [10, 11] : [10]] as [number, number, number[]]));
    const g = await run(hot, 'double-iteration/double-final', {}, p);
    expect(g.extra.extraRound).toBeUndefined();
    expect(g.extra.predictedNextDirty).toBeCloseTo(4 / (1 + XB), 9);
    const off = await run(hot, 'double-iteration/double-final', {}, { ...p, guard: 'off' });
    expect(off.extra.extraRound).toBe(true);
  });
});

describe('postcopy and hybrid', () => {
  it('pure post-copy of an idle guest: downtime is the switch alone; the pages follow at the link speed', async () => {
    // 64 pages at 1 page/ms, rtt 0.5 ms: stop, sync, 0.5 ms switch (rtt), resume; then 64 ms of push. No
    // max-postcopy-bandwidth: one ram_save_iterate sends both flushes (33 pages, 0.5–33.5 ms; MAX_WAIT,
    // 50 ms, is checked between flushes: not yet; then 31 pages to 64.5 ms) and ends with an 8-byte EOS;
    // ram_save_complete adds another: 16 bytes.
    const r = await run(idle(64), 'postcopy', {}, { rtt: '0.5ms' });
    expect(r.downtimeMs).toBeCloseTo(0.5, 9);
    expect(r.totalTimeMs).toBeCloseTo(0.5 + 64 + 16 / 4104, 6);
    expect(r).toMatchObject({ completed: true, remoteFaults: 0, postcopyBytes: 64 * 4104 + 16, transferredBytes: 64 * 4104 + 16, precopyBytes: 0, dirtySyncCount: 1 });
  });

  it('a page written before it arrives is a remote fault: its request is served after the flush in progress', async () => {
    // 64 pages; page 60 is written at guest 10 ms = wall 10.5 ms (the guest resumed at 0.5). The push
    // started at page 0 with a 32-page flush (sent until exceeded: 33 pages, 0.5–33.5 ms); the request
    // reached the source at 10.75 (rtt/2) and is taken after that flush: page 60 goes 33.5–34.5 and
    // arrives at 34.75 (rtt/2). Stall 34.75 − 10.5 = 24.25 ms. The push goes on after page 60
    // (61–63, 34.5–37.5), wraps to 33–59 (37.5–64.5); two EOS: 64.5 + 16 B.
    const t = trace(64, [[0, 10, []], [10, 11, [60]], [11, 1000, []]]);
    const r = await run(t, 'postcopy', {}, { rtt: '0.5ms' });
    expect(r.remoteFaults).toBe(1);
    expect(r.guestStallMs).toBeCloseTo(24.25, 6);
    expect(r.pagesSent).toBe(64);
    expect(r.totalTimeMs).toBeCloseTo(64.5 + 16 / 4104, 6);
  });

  it('the slot gate: a request that arrives after the slot\'s budget is spent is served at the next slot\'s start', async () => {
    // Link 100 pages/ms; max-postcopy-bandwidth 410,400 B/s = 41,040 B per 100 ms slot, which QEMU
    // sends until exceeded: 11 pages (45,144 B) per slot. Slot 0 sends pages 0–10 by 0.11 ms, then the
    // source waits for the slot's end. Page 50 is written at 30 ms: the guest stops, its request waits
    // (qemu_savevm_state_iterate returns at the rate limit) until the slot at 100 ms, where it is
    // served first: page 50 arrives at 100.01 ms (4,104 B at 100 pages/ms). Stall 70.01 ms.
    // Then from the cursor after 50: slot 1 = 50–60, slot 2 = 61–63 and 11–18 (wrapped), slot 3 =
    // 19–29, slot 4 = 30–40, slot 5 = 41–49 (9 pages, 500–500.09 ms). One EOS per ram_save_iterate
    // (6) and one from ram_save_complete: 56 bytes. (downtime-limit 1 ms: threshold ≈ 451 B, so
    // ram_save_complete only comes when nothing is left.)
    const t = trace(64, [[0, 30, []], [30, 31, [50]], [31, 1000, []]]);
    const fast = 100 * PAGE_PER_MS;
    const r = await run(t, 'postcopy', { linkBandwidth: fast, downtimeLimitMs: 1 }, { 'max-postcopy-bandwidth': '410400' });
    expect(r.downtimeMs).toBeCloseTo(0, 9);
    expect(r.remoteFaults).toBe(1);
    expect(r.guestStallMs).toBeCloseTo(70.01, 6);
    expect(r.pagesSent).toBe(64);
    expect(r.transferredBytes).toBe(64 * 4104 + 7 * 8);
    expect(r.totalTimeMs).toBeCloseTo(500.09 + (2 * 8) / 410400, 6);
    // Written at 0.05 ms instead (while slot 0's flush is going out), the request reaches a running
    // ram_save_iterate: it is served right after that flush although the budget is spent by then
    // (ram_save_iterate loops while a request is queued): page 50 goes 0.11–0.12 ms. Stall 0.07 ms.
    const early = trace(64, [[0, 0.05, []], [0.05, 0.06, [50]], [0.06, 1000, []]]);
    const e = await run(early, 'postcopy', { linkBandwidth: fast, downtimeLimitMs: 1 }, { 'max-postcopy-bandwidth': '410400' });
    expect(e.remoteFaults).toBe(1);
    expect(e.guestStallMs).toBeCloseTo(0.07, 6);
  });

  it('the socket: a requested page waits behind what is in it, unless postcopy-preempt puts it on its own channel', async () => {
    // A socket of 10 pages read at 1 × max-postcopy-bandwidth = 1 page/ms; link 100 pages/ms; budget
    // 100 pages per slot (never reached). The first flush (pages 0–32) fills the socket and blocks the
    // sender until 23 pages are read: it ends at 23 ms. Page 40, written at 5 ms, is requested and taken
    // after that flush: 23–24 ms (one page of room), behind the 10 pages in the socket: read at 34 ms.
    // Stall 34 − 5 = 29 ms. The rest (41–63, then 33–39) follows; the destination has read all 64 pages
    // at 64 ms, when the source completes. With postcopy-preempt=on page 40 leaves at 23 ms on its own
    // channel and arrives at 23.01 (stall 18.01 ms); the other 63 pages are read by 63 ms.
    registerCalibration({ ...IDEAL, name: 'golden-socket', postcopySocketBytes: 10 * 4104, postcopyDrainRatio: 1 });
    const t = trace(64, [[0, 5, []], [5, 6, [40]], [6, 1000, []]]);
    const o = { linkBandwidth: 100 * PAGE_PER_MS, calibration: 'golden-socket' };
    const r = await run(t, 'postcopy', o, { 'max-postcopy-bandwidth': String(PAGE_PER_MS) });
    expect(r.remoteFaults).toBe(1);
    expect(r.guestStallMs).toBeCloseTo(29, 6);
    expect(r.totalTimeMs).toBeCloseTo(64, 6);
    const pre = await run(t, 'postcopy', o, { 'max-postcopy-bandwidth': String(PAGE_PER_MS), 'postcopy-preempt': 'on' });
    expect(pre.remoteFaults).toBe(1);
    expect(pre.guestStallMs).toBeCloseTo(18.01, 6);
    expect(pre.totalTimeMs).toBeCloseTo(63, 6);
  });

  it('hybrid switches after the first full pass by default, and when told', async () => {
    // Page 5 written every ms keeps QEMU from converging at this downtime limit; the first pass of 300
    // pages takes 300 ms at 1 page/ms, so hybrid switches then and post-copies the rest ({5}).
    const epochs: [number, number, number[]][] = Array.from({ length: 2000 }, (_, i) => [i, i + 1, [5, 7, 9]]);
    const t = trace(300, epochs);
    const a = await run(t, 'hybrid', { downtimeLimitMs: 0.001, maxTimeMs: 10_000 });
    expect(a.completed).toBe(true);
    expect(a.extra.switchedAtMs as number).toBeGreaterThanOrEqual(300);
    expect(a.extra.switchedAtMs as number).toBeLessThan(420);
    const b = await run(t, 'hybrid', { downtimeLimitMs: 0.001, maxTimeMs: 10_000 }, { 'switch-after': '150ms' });
    expect(b.extra.switchedAtMs as number).toBeGreaterThanOrEqual(150);
    expect(b.extra.switchedAtMs as number).toBeLessThan(160);
    const plain = await run(t, 'qemu-precopy', { downtimeLimitMs: 0.001, maxTimeMs: 2_000 });
    expect(plain.completed).toBe(false);
    await expect(run(t, 'hybrid', {}, { 'switch-after': 'soon' })).rejects.toThrow(/switch-after takes a time/);
  });
});

describe('the research methods on a page written every ms (64 pages, min-pages 0, max-iters 4)', () => {
  const epochs: [number, number, number[]][] = Array.from({ length: 300 }, (_, i) => [i, i + 1, [10]]);
  const t = trace(64, epochs);
  const p = { 'min-pages': '0', 'max-iters': '4' };
  // For reference, precopy sends 64, {10}, {10}, {10} and a final {10}: 68 pages, 68 ms + 5 XB (see above).
  // Each non-empty round is one legacy batch (+ XB); a round that holds everything sends no batch.

  it('improved-precopy marks page 10 after its second dirty round and sends it once more, at the end', async () => {
    // R1: 64 pages (to 64 + XB ms), D1 = {10} (count 1). R2: {10} (to 65 + 2 XB), D2 = {10} (the write at
    // 65; count 2 → marked). R3, R4: 10 is held, nothing sent, no time passes, nothing dirtied. Stop after
    // 4 rounds; final {10}: 66 pages, 66 ms + 3 XB, downtime 1 ms + XB. (Before batch headers: 66 ms.)
    const r = await run(t, 'improved-precopy', {}, p);
    expect(r).toMatchObject({ pagesSent: 66, finalDirtyPages: 1, stopReason: 'max-rounds' });
    expect(r.totalTimeMs).toBeCloseTo(66 + 3 * XB, 9);
    expect(r.downtimeMs).toBeCloseTo(1 + XB, 9);
    expect(r.extra.markedPages).toBe(1);
  });

  it('improved-precopy counts each page on its own: hot-rounds 1 and 2 with a page that stops being written', async () => {
    // Page 20 is also written in every ms before 64, so only during round 1 (0 → 64 + XB ms).
    // hot-rounds 2: D1 = {10, 20} (counts 1, 1); R2 sends both, D2 = {10} (count 2 → marked; 20 stays at 1);
    // R3, R4 hold 10 and send nothing; final {10}: 64 + 2 + 1 = 67 pages, one marked.
    // hot-rounds 1: both marked after R1; R2–R4 hold both and send nothing; final {10, 20}: 66 pages, two marked.
    const t2 = trace(64, Array.from({ length: 300 }, (_, i) => [i, i + 1, i < 64 ? [10, 20] : [10]] as [number, number, number[]]));
    const two = await run(t2, 'improved-precopy', {}, { ...p, 'hot-rounds': '2' });
    expect(two).toMatchObject({ pagesSent: 67, finalDirtyPages: 1, stopReason: 'max-rounds' });
    expect(two.extra.markedPages).toBe(1);
    const one = await run(t2, 'improved-precopy', {}, { ...p, 'hot-rounds': '1' });
    expect(one).toMatchObject({ pagesSent: 66, finalDirtyPages: 2, stopReason: 'max-rounds' });
    expect(one.extra.markedPages).toBe(2);
  });

  it('delayed-copy holds page 10 while it is hot and sends it when it cools', async () => {
    // Heat after R1 (to 64 + XB): 0.5 (hot) → R2 holds it (0 ms), D2 = ∅ → 0.25 (cool) → R3 sends it
    // (to 65 + 2 XB), the write at 65 → 0.125 + 0.5 = 0.625 (hot) → R4 holds it; stop; final {10}.
    // 66 pages, 66 ms + 3 XB. (Before batch headers: 66 ms, the write in R3 at 64.)
    const r = await run(t, 'delayed-copy', {}, p);
    expect(r).toMatchObject({ pagesSent: 66, finalDirtyPages: 1 });
    expect(r.totalTimeMs).toBeCloseTo(66 + 3 * XB, 9);
  });

  it('delayed-copy over its cap holds the hottest pages, ties to the lower address', async () => {
    // downtime-limit 2 ms: cap = ⌊4,104,000 × 2 / 1000 / 4096⌋ = 2 pages. Writes: 50–54 at 1 ms, 54 at 65,
    // 10 and 20 at 66, 20 again at 68. R1: 64 pages (to 64 + XB), D1 = {50…54}, all at heat 0.5: over the
    // cap, hold the two lowest, {50, 51}. R2 sends {52, 53, 54} (to 67 + 2 XB); D2 = {54, 10, 20}: heat
    // 54 → 0.75, 10 and 20 → 0.5, 50–53 → 0.25: hot {10, 20, 54}, cap 2 → 54 (hottest) and 10 (the lower
    // of the tie). R3 sends {20, 50, 51} (to 70 + 3 XB); D3 = {20} → 0.75: hold {20}. R4 sends {10, 54}
    // (to 72 + 4 XB); stop (max-iters 4); final {20}: 73 pages, 73 ms + 5 XB.
    // (Holding 10 and 20 after R2, the two lowest, would send 72 pages; so would 20 and 54.)
    const tc = trace(64, [[0, 1, []], [1, 2, [50, 51, 52, 53, 54]], [2, 65, []], [65, 66, [54]], [66, 67, [10, 20]], [67, 68, []], [68, 69, [20]], [69, 1000, []]]);
    const r = await run(tc, 'delayed-copy', { downtimeLimitMs: 2 }, p);
    expect(r).toMatchObject({ pagesSent: 73, finalDirtyPages: 1, stopReason: 'max-rounds' });
    expect(r.totalTimeMs).toBeCloseTo(73 + 5 * XB, 9);
    expect(r.extra.maxHeldPages).toBe(2);
  });

  it('prediction holds page 10 on its Markov odds and reports precision and recall', async () => {
    // After R1: 10 went clean→dirty. R2: P(dirty | dirty) = (0+1)/(0+2) = 0.5 ≥ 0.5 → held; D2 = ∅.
    // R3: P(dirty | clean) = (1+1)/(0+1+2) = 2/3 → held; R4: (1+1)/(1+1+2) = 0.5 → held (3rd time,
    // max-defer 3). Stop; final {10}: 65 pages, 65 ms + 2 XB (R1 and the final copy are one batch each;
    // before batch headers: 65 ms). Held 3 times, never written while held:
    // precision 0; the one page sent and re-dirtied (10 in R1) was not held: recall 0.
    const r = await run(t, 'prediction', {}, p);
    expect(r).toMatchObject({ pagesSent: 65, finalDirtyPages: 1 });
    expect(r.totalTimeMs).toBeCloseTo(65 + 2 * XB, 9);
    expect(r.extra).toMatchObject({ predictionPrecision: 0, predictionRecall: 0 });
  });
});

describe('xbzrle', () => {
  it('sends a page still in its cache as a delta, only after the first lap', async () => {
    // The qemu-precopy scenario above (300 pages, pages 0–9 written at 0 ms, page 1 at 200.1 ms).
    // The first lap ends at 200.98 ms: pages 0–2 sent after it miss and are cached; in the final copy
    // page 1 hits (11 + 0.25 × 4096 = 1035 bytes) and 3–9 miss. Bytes: 311 × 4104 − 4104 + 1035 + 4 EOS.
    const tq = trace(300, [[0, 50, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]], [50, 200.1, []], [200.1, 1000, [1]]]);
    const r = await run(tq, 'xbzrle', { linkBandwidth: 100 * PAGE_PER_MS, downtimeLimitMs: 100 });
    expect(r.extra).toMatchObject({ xbzrleCacheHits: 1, xbzrleCacheMisses: 10 });
    expect(r.transferredBytes).toBe(311 * 4104 - 4104 + 1035 + 4 * 8);
  });

  it('prices a hit at the profile\'s measured mean and encoding CPU; xbzrle-ratio overrides the bytes', async () => {
    // The same run on a host whose profile says a hit costs 30 bytes and 2 µs of encoding.
    // Final copy: 7 misses + 1 hit + EOS = 7 × 4104 + 30 + 8 = 28,766 B at 410.4 MB/s
    // = 0.0700926… ms, + 0.002 ms for the hit's encoding: downtime 0.0720926… ms.
    registerCalibration({ name: 'golden-xbzrle', description: 'test host', setupMs: 0, setupStallsGuest: false, xbzrleEncodedBytes: 30, xbzrleOverflowShare: 0, xbzrleCpuUs: 2, constants: {} });
    const tq = trace(300, [[0, 50, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]], [50, 200.1, []], [200.1, 1000, [1]]]);
    const o = { linkBandwidth: 100 * PAGE_PER_MS, downtimeLimitMs: 100, calibration: 'golden-xbzrle' };
    const r = await run(tq, 'xbzrle', o);
    expect(r.extra).toMatchObject({ xbzrleCacheHits: 1, xbzrleCacheMisses: 10, xbzrleOverflows: 0, xbzrleHitBytes: 30 });
    expect(r.transferredBytes).toBe(311 * 4104 - 4104 + 30 + 4 * 8);
    expect(r.downtimeMs).toBeCloseTo((7 * 4104 + 30 + 8) / 4104 / 100 + 0.002, 9);
    // --param xbzrle-ratio=0.25: 11 + 1024 = 1035 bytes, whatever the profile says; the CPU stays the profile's.
    const q = await run(tq, 'xbzrle', o, { 'xbzrle-ratio': '0.25' });
    expect(q.transferredBytes).toBe(311 * 4104 - 4104 + 1035 + 4 * 8);
    expect(q.downtimeMs).toBeCloseTo((7 * 4104 + 1035 + 8) / 4104 / 100 + 0.002, 9);
    await expect(run(tq, 'xbzrle', o, { 'xbzrle-ratio': '1.5' })).rejects.toThrow(/xbzrle-ratio takes profile or a number from 0 to 1/);
    await expect(run(tq, 'xbzrle', o, { 'xbzrle-cache-size': '12KiB' })).rejects.toThrow(/power-of-two multiple of the page size/);
  });

  it('the rate limit counts the bytes written: a slot of hits carries more pages', async () => {
    // 400 pages, a 2 MiB cache (512 slots: no two pages share one); budget 410,400 B per 100 ms slot,
    // link 100× the cap; downtime-limit 100 ms; hits cost 11 + 0.25 × 4096 = 1035 B, none overflows.
    // Pages 0–199 are written at 0 ms and again at 450 ms.
    //   0, 100, 200 ms: 101 pages each (0–100, 101–201, 202–302), lap 1; threshold 414,512 B (101.2 pages).
    //   300 ms: pending 97 < 101.2 → sync #2 adds 0–199 → 297: send 303–399 (lap 1 ends, XBZRLE starts),
    //     then 0–3: misses, cached at generation 2 (101 pages).
    //   400 ms: 4–104: misses, cached (101 pages).
    //   500 ms: pending 95 → sync #3 adds 0–199 again → 200: 105–199 miss (95 × 4104 = 389,880 B), then
    //     0–19 hit: 389,880 + n × 1035 > 410,400 first at n = 20 → 115 pages, 410,580 B + EOS in ONE
    //     iteration (priced as whole pages the slot would have stopped at 101 pages).
    //   600 ms: threshold 410,588 B; pending 20–104 = 85 pages → sync #4 (nothing new) → stop; final
    //     sync #5; 85 hits (cached at generation 2) = 87,975 B + EOS at 410.4 MB/s.
    const W = Array.from({ length: 200 }, (_, i) => i);
    const t = trace(400, [[0, 50, W], [50, 450, []], [450, 451, W], [451, 3000, []]]);
    const r = await run(t, 'xbzrle', { linkBandwidth: 100 * PAGE_PER_MS, downtimeLimitMs: 100 }, { 'xbzrle-cache-size': '2MiB', 'xbzrle-ratio': '0.25', 'xbzrle-overflow': '0' });
    expect(r.rounds.map((x) => x.pagesSent)).toEqual([303, 202, 115, 0, 85]);
    expect(r.rounds.map((x) => x.startMs)).toEqual([0, 300, 500, 600, 600]);
    expect(r.rounds[2]!.bytes).toBe(95 * 4104 + 20 * 1035 + 8);
    expect(r.extra).toMatchObject({ xbzrleCacheHits: 105, xbzrleCacheMisses: 200, xbzrleOverflows: 0 });
    expect(r.transferredBytes).toBe(505 * 4104 + 5 * 8 + 410_588 + 87_975 + 8);
    expect(r.downtimeMs).toBeCloseTo((87_975 + 8) / 4104 / 100, 9);
  });

  it('QEMU\'s cache: a zero page takes a slot after the first lap, a fresh slot is not evicted for 2 generations, a hit refreshes its age', () => {
    // 16 KiB cache = 4 slots; page p goes to slot p mod 4. (In a replay a page once written is never zero
    // again, so zero pages reach the cache only through this rule: xbzrle_cache_zero_page.)
    const c = new XbzrleCache(16384, 4096);
    expect(c.insert(1, 2)).toBe(true); // zero page 1 sent at generation 2: slot 1 := (1, 2)
    expect(c.lookup(5, 2)).toBe(false); // page 5 misses …
    expect(c.insert(5, 2)).toBe(false); // … and is not cached: 2 + 2 > 2
    expect(c.insert(5, 3)).toBe(false); // 2 + 2 > 3
    expect(c.holds(1)).toBe(1); // slot 1 still holds page 1
    expect(c.lookup(1, 3)).toBe(true); // page 1 (now written) hits against its zero copy: age := 3
    expect(c.insert(5, 4)).toBe(false); // 3 + 2 > 4: the hit kept it
    expect(c.insert(5, 5)).toBe(true); // 3 + 2 ≤ 5: page 1 is evicted
    expect(c.holds(1)).toBe(5); // slot 1 holds page 5
    expect(c.insert(5, 5)).toBe(true); // the same page always refreshes its own slot
    // A dry run (the engine sizing a send) leaves the cache as it was.
    expect(c.insert(9, 7, false)).toBe(true);
    expect(c.lookup(9, 7, false)).toBe(true);
    c.reset();
    expect(c.holds(1)).toBe(5); // slot 1 (= 9 mod 4) untouched
    expect(c.lookup(9, 7)).toBe(false);
    expect(c.lookup(9, 8, false)).toBe(false); // a dry run after reset() sees the committed cache again
    // A dry run reads its own ages: dry (1, 8) in slot 1 blocks page 5 at generation 9 (8 + 2 > 9) …
    expect(c.insert(1, 8, false)).toBe(true); // 5 + 2 ≤ 8: evicts the committed page 5, in the overlay only
    expect(c.insert(5, 9, false)).toBe(false);
    c.reset();
    expect(c.insert(5, 9)).toBe(true); // … while the committed slot still holds page 5 itself
    expect(() => new XbzrleCache(12288, 4096)).toThrow(ParamError); // 3 slots: QEMU refuses it
  });
});
