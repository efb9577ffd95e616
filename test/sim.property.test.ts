// Property tests over random traces, every method: a completed run leaves the
// destination with every page's last write (checked by an independent oracle
// that recomputes every write instant from the trace), bytes are at least one
// send of every page, downtime ≤ total time.
import { beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../src/kernel/index.js';
import { IDEAL, registerCalibration } from '../src/sim/calibration.js';
import { methodIds } from '../src/sim/methods/index.js';
import { simulate } from '../src/sim/simulate.js';
import type { Trace } from '../src/trace/model.js';
import { mulberry32, randInt, type Rng } from '../src/trace/random.js';

const MS = 1e6;
let kernel: Kernel;
beforeAll(async () => { kernel = await Kernel.load(); });
// Post-copy with a socket that holds 20 pages, read at 1.5 × max-postcopy-bandwidth, the destination
// starting the guest 2 ms after the switch (the queueing paths of postcopy.ts).
registerCalibration({ ...IDEAL, name: 'property-socket', postcopySocketBytes: 20 * 4104, postcopyDrainRatio: 1.5, postcopyDstStartMs: 2, postcopyPackageMs: 0.5, postcopySyncUsPerPage: 3 });

function randomTrace(rng: Rng): Trace {
  const nPages = 16 + randInt(rng, 300);
  const epochs = [];
  let t = 0;
  for (let k = 0; k < 2 + randInt(rng, 9); k++) {
    const len = (1 + randInt(rng, 50)) * MS + randInt(rng, 1000);
    const d = rng() * rng() * 0.5;
    const pages = Uint32Array.from({ length: nPages }, (_, i) => i).filter(() => rng() < d);
    const gap = rng() < 0.2 ? randInt(rng, 5 * MS) : 0;
    epochs.push({ t0: t + gap, t1: t + gap + len, pages });
    t += gap + len;
  }
  const zero = rng() < 0.5 ? Uint32Array.from({ length: nPages }, (_, i) => i).filter(() => rng() < 0.4) : null;
  return {
    header: { pageSize: 4096, nPages, timeUnit: 'ns', epochLen: 10 * MS, nEpochs: epochs.length, hasTimes: true, hasCounts: false, zeroAtStart: zero, meta: {} },
    epochs,
  };
}

// ---- the oracle: its own copy of the write-instant model of docs/methods.md ----
function fmix(h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16; return h >>> 0;
}
function instant(p: number, k: number, t0: number, t1: number, model: string): number {
  if (model === 'start') return t0;
  if (model === 'end') return t1;
  const h = fmix((Math.imul(p, 0x9e3779b1) ^ fmix(k + 0x632be5ab)) >>> 0) >>> 12;
  return t0 + (h / 2 ** 20) * (t1 - t0);
}
/** Last write instant (guest ns) of each page in [start, stop), the trace looped. */
function lastWrites(t: Trace, start: number, stop: number, model: string): Float64Array {
  const last = new Float64Array(t.header.nPages).fill(-Infinity);
  const E = t.epochs.length;
  const period = t.epochs[E - 1]!.t1 - t.epochs[0]!.t0;
  const first = t.epochs.findIndex((e) => e.t1 > start);
  for (let k = first, off = 0; ; k++) {
    if (k % E === 0 && k > 0 && k >= E) off = Math.floor(k / E) * period;
    const e = t.epochs[k % E]!;
    const t0 = e.t0 + off;
    if (t0 >= stop) break;
    for (const p of e.pages) {
      const w = instant(p, k, t0, e.t1 + off, model);
      if (w >= start && w < stop && w > last[p]!) last[p] = w;
    }
  }
  return last;
}

describe('every method on random traces', () => {
  const ids = methodIds();
  it.each(ids)('%s: the destination holds every page\'s last write', async (method) => {
    const rng = mulberry32([...method].reduce((s, c) => s * 31 + c.charCodeAt(0), 7) >>> 0);
    let completed = 0;
    for (let c = 0; c < 60; c++) {
      const t = randomTrace(rng);
      const model = (['uniform', 'start', 'end'] as const)[randInt(rng, 3)]!;
      const params: Record<string, string> = { 'write-time': model };
      if (method.startsWith('qemu') && rng() < 0.5) { params.rearm = 'chunk'; params['clear-bitmap-shift'] = String(6 + randInt(rng, 3)); }
      // Small batches: legacy Xen's peek windows then span many pfns and grow (precopy.ts peekBatch).
      if (method === 'precopy' && rng() < 0.5) params.batch = String(1 + randInt(rng, 8));
      const startEpoch = randInt(rng, t.epochs.length);
      const lastSend = new Float64Array(t.header.nPages).fill(NaN);
      let stopGuest = NaN;
      const bandwidth = (200 + randInt(rng, 5000)) * 4104; // 0.2–5 pages per ms
      const socket = (method === 'postcopy' || method === 'hybrid') && rng() < 0.5;
      if (socket) {
        params['max-postcopy-bandwidth'] = String(Math.round(bandwidth * (0.2 + rng())));
        params['postcopy-preempt'] = rng() < 0.5 ? 'on' : 'off';
      }
      const r = await simulate(t, {
        method, params, kernel, bandwidth, linkBandwidth: bandwidth * (1 + randInt(rng, 4)), startEpoch, calibration: socket ? 'property-socket' : undefined,
        downtimeLimitMs: 5 + randInt(rng, 300), maxTimeMs: 20_000,
        hooks: {
          onSend: (pages, guestNs) => { for (const p of pages) lastSend[p] = guestNs; },
          onStop: (g) => { stopGuest = g; },
        },
      });
      expect(r.downtimeMs === null || r.downtimeMs <= r.totalTimeMs, 'downtime ≤ total').toBe(true);
      // A page faults at most once (the guest waits until it is there), and only pages sent after the switch.
      expect(r.remoteFaults).toBeLessThanOrEqual(t.header.nPages);
      expect(r.guestStallMs).toBeGreaterThanOrEqual(0);
      if (!r.completed) { expect(r.downtimeMs).toBeNull(); continue; }
      completed++;
      const zero = t.header.zeroAtStart?.length ?? 0;
      expect(r.transferredBytes).toBeGreaterThanOrEqual((t.header.nPages - zero) * 4104 + zero * 9);
      expect(r.pagesSent).toBeGreaterThanOrEqual(t.header.nPages);
      expect(r.pagesSent - r.pagesResent).toBe(t.header.nPages);
      const last = lastWrites(t, t.epochs[startEpoch]!.t0, stopGuest, model);
      for (let p = 0; p < t.header.nPages; p++) {
        expect(Number.isNaN(lastSend[p]!), `page ${p} never sent (case ${c})`).toBe(false);
        if (last[p]! > -Infinity) expect(last[p]!, `page ${p}: written at ${last[p]} after its last send at ${lastSend[p]} (case ${c}, ${JSON.stringify(params)})`).toBeLessThan(lastSend[p]!);
      }
    }
    expect(completed).toBeGreaterThan(30);
  });
});

describe('post-copy vs stop-and-copy', () => {
  it('post-copy\'s downtime never exceeds stop-and-copy\'s, on random traces', async () => {
    const rng = mulberry32(4242);
    for (let c = 0; c < 60; c++) {
      const t = randomTrace(rng);
      const o = { kernel, bandwidth: (200 + randInt(rng, 5000)) * 4104, startEpoch: randInt(rng, t.epochs.length), params: { 'device-state': String(randInt(rng, 100000)) } };
      const pc = await simulate(t, { ...o, method: 'postcopy' });
      const sc = await simulate(t, { ...o, method: 'stop-and-copy' });
      expect(pc.completed && sc.completed).toBe(true);
      expect(pc.downtimeMs!).toBeLessThanOrEqual(sc.downtimeMs! + 1e-9);
    }
  });
});
