// The engine's clocks and write timeline, and auto-converge's rule checked
// against an independent re-implementation over the run's own sync records.
import { beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../src/kernel/index.js';
import { IDEAL } from '../src/sim/calibration.js';
import { Engine, type EngineConfig } from '../src/sim/engine.js';
import { simulate } from '../src/sim/simulate.js';
import { Timeline, writeHash20 } from '../src/sim/timeline.js';
import type { Trace } from '../src/trace/model.js';

const MS = 1e6;
let kernel: Kernel;
beforeAll(async () => { kernel = await Kernel.load(); });

/** Epoch i = [10 i, 10 i + 10) ms writes page i. */
const stair: Trace = {
  header: { pageSize: 4096, nPages: 64, timeUnit: 'ns', epochLen: 10 * MS, nEpochs: 64, hasTimes: true, hasCounts: false, zeroAtStart: null, meta: {} },
  epochs: Array.from({ length: 64 }, (_, i) => ({ t0: i * 10 * MS, t1: (i + 1) * 10 * MS, pages: Uint32Array.from([i]) })),
};

function engine(over: Partial<EngineConfig> = {}): Engine {
  return new Engine({
    trace: stair, kernel, bandwidth: 4104e3, linkBandwidth: 4104e3, downtimeLimitMs: 300, writeTime: 'start', rearm: 'sync',
    clearBitmapShift: 18, onTraceEnd: 'loop', startNs: 0, maxTimeMs: 1e6, calibration: IDEAL, pageHeaderBytes: 8,
    zeroPageBytes: 9, deviceStateBytes: 0, switchoverFixedMs: 0, rttMs: 0, ...over,
  });
}

const logged = (e: Engine) => Array.from(kernel.toList(e.log));

describe('clocks', () => {
  it('a throttle slows the guest clock, and with it the writes; a stopped guest writes nothing', () => {
    const e = engine();
    e.setThrottle(50);
    e.advanceTo(40 * MS); // 40 ms of wall time at 50 % = 20 ms of guest time: writes at 0 and 10 ms
    expect(e.guest).toBeCloseTo(20 * MS, 3);
    expect(logged(e)).toEqual([0, 1]);
    e.setThrottle(0);
    e.advanceTo(50 * MS); // 10 ms more at full speed: guest 30 ms → the write at 20 ms
    expect(e.guest).toBeCloseTo(30 * MS, 3);
    expect(logged(e)).toEqual([0, 1, 2]);
    e.stopGuest();
    e.advanceTo(500 * MS);
    expect(e.guest).toBeCloseTo(30 * MS, 3);
    expect(logged(e)).toEqual([0, 1, 2]);
    const r = e.finish('test', { completed: true, converged: true, stopReason: 'converged' });
    expect(r.guestStallMs).toBeCloseTo(20, 6); // 50 ms of wall time bought 30 ms of guest time
    e.dispose();
  });

  it('the trace loops: epoch 64 is epoch 0 again, 640 ms later, and the result says it looped', () => {
    const e = engine();
    e.advanceTo(635 * MS); // writes at 0, 10, …, 630 ms: all 64 pages
    expect(logged(e).length).toBe(64);
    kernel.clear(e.log);
    e.advanceTo(660 * MS); // loop 1: writes at 640 (page 0) and 650 (page 1)
    expect(logged(e)).toEqual([0, 1]);
    expect(e.finish('t', { completed: false, converged: false, stopReason: 'max-time' }).traceLooped).toBe(true);
    e.dispose();
  });

  it('--on-trace-end stop aborts at the end of the trace; idle stops writing', () => {
    const e = engine({ onTraceEnd: 'stop' });
    e.advanceTo(700 * MS);
    expect(e.abortReason).toBe('trace-end');
    e.dispose();
    const i = engine({ onTraceEnd: 'idle' });
    i.advanceTo(2000 * MS);
    expect(i.abortReason).toBeNull();
    expect(logged(i).length).toBe(64);
    i.dispose();
  });

  it('a start inside the trace makes earlier writes history', () => {
    const e = engine({ startNs: 25 * MS }); // epochs 0–2 (writes at 0, 10, 20 ms) are history
    e.advanceTo(20 * MS); // guest 25 → 45 ms: writes at 30 and 40
    expect(logged(e)).toEqual([3, 4]);
    e.dispose();
  });
});

describe('write instants (write-time=uniform)', () => {
  it('are t0 + h(p, k)·(t1 − t0), handed over in instant order and only once passed', () => {
    const pages = Array.from({ length: 200 }, (_, i) => i * 3);
    const t: Trace = { ...stair, header: { ...stair.header, nPages: 600 }, epochs: [{ t0: 0, t1: 100 * MS, pages: Uint32Array.from(pages) }] };
    const tl = new Timeline(t, { writeTime: 'uniform', onTraceEnd: 'idle', startNs: 0 });
    const got: number[] = [];
    tl.advance(50 * MS, (p, from, to) => got.push(...Array.from(p.subarray(from, to))));
    const instant = (p: number) => (writeHash20(p, 0) / 2 ** 20) * 100 * MS;
    const expected = pages.filter((p) => instant(p) < 50 * MS).sort((a, b) => instant(a) - instant(b) || a - b);
    expect(got).toEqual(expected);
    expect(got.length).toBeGreaterThan(70); // about half of 200
    expect(got.length).toBeLessThan(130);
    tl.advance(100 * MS, (p, from, to) => got.push(...Array.from(p.subarray(from, to))));
    expect([...got].sort((a, b) => a - b)).toEqual(pages);
  });

  it('with a stop predicate the walk ends at the first write it holds for: handed over last, its instant returned', () => {
    const pages = Array.from({ length: 200 }, (_, i) => i * 3);
    const t: Trace = { ...stair, header: { ...stair.header, nPages: 600 }, epochs: [{ t0: 0, t1: 100 * MS, pages: Uint32Array.from(pages) }] };
    const instant = (p: number) => (writeHash20(p, 0) / 2 ** 20) * 100 * MS;
    const orders = {
      uniform: [...pages].sort((a, b) => instant(a) - instant(b) || a - b),
      start: pages,
      end: pages,
    };
    for (const model of ['uniform', 'start', 'end'] as const) {
      const order = orders[model];
      const target = order[57]!;
      const tl = new Timeline(t, { writeTime: model, onTraceEnd: 'idle', startNs: 0 });
      const got: number[] = [];
      const sink = (p: Uint32Array, from: number, to: number) => got.push(...Array.from(p.subarray(from, to)));
      const at = tl.advance(200 * MS, sink, (p) => p === target);
      expect(got, model).toEqual(order.slice(0, 58));
      expect(at, model).toBe(model === 'uniform' ? instant(target) : model === 'start' ? 0 : 100 * MS);
      expect(tl.advance(200 * MS, sink), model).toBeNull(); // the rest, in order
      expect(got, model).toEqual(order);
    }
  });

  it('a second walk of the same trace reuses the kept order, lap by lap, and an epoch given new pages is sorted again', () => {
    const order = (pages: number[], k: number) => [...pages].sort((a, b) => writeHash20(a, k) - writeHash20(b, k) || a - b);
    const pages = Array.from({ length: 300 }, (_, i) => i * 2);
    const t: Trace = { ...stair, header: { ...stair.header, nPages: 1024 }, epochs: [{ t0: 0, t1: 100 * MS, pages: Uint32Array.from(pages) }, { t0: 100 * MS, t1: 200 * MS, pages: Uint32Array.from(pages) }] };
    const walk = () => {
      const tl = new Timeline(t, { writeTime: 'uniform', onTraceEnd: 'loop', startNs: 0 });
      const laps: number[][] = [];
      for (let k = 0; k < 4; k++) {
        const got: number[] = [];
        // Stop just before each epoch's end so every epoch is walked through its sorted order (no whole-epoch shortcut).
        tl.advance(k * 100 * MS + 100 * MS - 1, (p, from, to) => got.push(...Array.from(p.subarray(from, to))));
        tl.advance(k * 100 * MS + 100 * MS, (p, from, to) => got.push(...Array.from(p.subarray(from, to))));
        laps.push(got);
      }
      return laps;
    };
    const expected = [0, 1, 2, 3].map((k) => order(pages, k)); // epochs 0, 1, then 0 and 1 again as ordinals 2 and 3
    expect(walk()).toEqual(expected);
    expect(walk()).toEqual(expected); // the second walk reads the kept orders
    const other = pages.map((p) => p + 1);
    t.epochs[1]!.pages = Uint32Array.from(other); // the same epochs array, a new pages array for epoch 1
    expect(walk()).toEqual([order(pages, 0), order(other, 1), order(pages, 2), order(other, 3)]);
  });

  it('the hash depends on the absolute epoch ordinal, so a looped epoch writes in another order', () => {
    let same = 0;
    for (let p = 0; p < 1000; p++) if (writeHash20(p, 3) === writeHash20(p, 3 + 64)) same++;
    expect(same).toBeLessThan(5);
  });
});

describe('qemu-auto-converge', () => {
  // 2000 pages; every 100 ms the guest writes 300 pages of a 1000-page hot set (at 1 page/ms of budget
  // the sender manages ~101 pages per 100 ms): plain QEMU cannot converge.
  const heavy: Trace = {
    header: { ...stair.header, nPages: 2000, epochLen: 100 * MS },
    epochs: Array.from({ length: 50 }, (_, k) => ({
      t0: k * 100 * MS, t1: (k + 1) * 100 * MS,
      pages: Uint32Array.from(Array.from({ length: 300 }, (_, j) => (k * 300 + j) % 1000)).sort(),
    })),
  };
  const opts = { bandwidth: 4104e3, linkBandwidth: 410.4e6, maxTimeMs: 120_000 };

  it('throttles 20 % then +10 % at every second over-threshold period, and converges where plain QEMU does not', async () => {
    const plain = await simulate(heavy, { ...opts, method: 'qemu-precopy', kernel });
    expect(plain).toMatchObject({ completed: false, stopReason: 'max-time' });
    const r = await simulate(heavy, { ...opts, method: 'qemu-auto-converge', kernel });
    expect(r.completed).toBe(true);
    // Re-derive every throttle decision from the sync records (migration_trigger_throttle):
    // a period ends at the first sync more than 1 s after it began; a hit when the new dirty bytes
    // in it exceed 50 % of the bytes sent in it; every second hit raises the throttle.
    let periodStart = r.rounds[0]!.startMs;
    let dirty = 0;
    let sent = 0;
    let hits = 0;
    let pct = 0;
    const steps: number[] = [];
    for (let i = 1; i < r.rounds.length; i++) {
      const s = r.rounds[i]!;
      sent += r.rounds[i - 1]!.bytes;
      dirty += s.dirtyPages;
      if (s.startMs > periodStart + 1000) {
        if (dirty * 4096 > sent * 0.5 && ++hits >= 2) {
          hits = 0;
          pct = pct === 0 ? 20 : Math.min(pct + 10, 99);
          steps.push(pct);
        }
        periodStart = s.startMs;
        dirty = 0;
        sent = 0;
      }
      if (!s.final) expect(s.throttlePct, `sync ${s.sync}`).toBe(pct);
    }
    expect(steps.slice(0, 3)).toEqual([20, 30, 40]);
    expect(r.maxThrottlePct).toBe(pct);
    expect(r.guestStallMs).toBeGreaterThan(0);
  });
});

describe('write-time=end with a rate that changes per epoch', () => {
  it('does not stall on an epoch boundary (regression: qemu-dirty-limit with write-time=end)', async () => {
    const t: Trace = { ...stair, epochs: stair.epochs.map((e) => ({ ...e, pages: Uint32Array.from({ length: 40 }, (_, j) => (e.pages[0]! + j) % 64) })) };
    const r = await simulate(t, { method: 'qemu-dirty-limit', kernel, bandwidth: 4104e3, maxTimeMs: 30_000, params: { 'write-time': 'end' } });
    expect(r.totalTimeMs).toBeGreaterThan(0);
    const s = await simulate(t, { method: 'precopy', kernel, bandwidth: 4104e3, onTraceEnd: 'stop', params: { 'write-time': 'end' } });
    expect(['trace-end', 'converged', 'max-rounds', 'max-bytes']).toContain(s.stopReason);
  });
});
