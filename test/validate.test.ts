// Validation against the real QEMU runs in test/fixtures/qemu-runs: the
// targets of the validation issue hold, validate adds nothing to simulate,
// the profile's constants follow from their rules, and bad run directories
// are refused.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../src/kernel/index.js';
import { QEMU_72_TCG } from '../src/sim/profiles.js';
import { registerCalibration } from '../src/sim/calibration.js';
import { allRunConstants, fitLine, profileFrom, type RunConstants } from '../src/validate/derive.js';
import { readRun } from '../src/validate/run.js';
import { validateRun } from '../src/validate/validate.js';
import { warpTrace } from '../src/trace/warp.js';
import { dirtylab, root } from './run-cli.js';

const base = join(root, 'test/fixtures/qemu-runs');
const dirs = readdirSync(base).filter((x) => x.includes('-dt')).map((x) => join('test/fixtures/qemu-runs', x));

describe('dirtylab validate on the real runs', () => {
  let doc: any;
  const out = mkdtempSync(join(tmpdir(), 'dirtylab-validate-'));
  beforeAll(() => {
    const r = dirtylab('validate', ...dirs, '--json', '--out', out);
    expect(r.code).toBe(0);
    doc = JSON.parse(r.stdout);
  }, 120_000);

  it('meets the targets on the quiet runs: median |error| ≤ 3 % time and ≤ 1 % bytes, worst ≤ 10 %, verdicts right, syncs ±1, downtime ≤ 8 ms, ≤ 12 ms per bandwidth', () => {
    const s = doc.summary;
    expect(s.replayed).toBe(dirs.length);
    expect(s.busy.length).toBe(5); // the five runs recorded while other work used > 20 % of the host
    expect(s.medianAbsRelError.totalTimeMs).toBeLessThanOrEqual(0.03);
    expect(s.medianAbsRelError.transferredBytes).toBeLessThanOrEqual(0.01);
    expect(s.worstAbsRelError.totalTimeMs).toBeLessThanOrEqual(0.1);
    expect(s.worstAbsRelError.transferredBytes).toBeLessThanOrEqual(0.1);
    expect(s.verdictsRight).toBe(s.replayed - s.busy.length);
    expect(s.syncWithin1).toBeGreaterThanOrEqual(0.9);
    expect(s.medianAbsDowntimeErrorMs).toBeLessThanOrEqual(8);
    for (const g of Object.values(s.byBandwidth) as any[]) expect(g.medianAbsDowntimeErrorMs).toBeLessThanOrEqual(12);
    expect(Object.keys(s.byBandwidth)).toEqual(['16 MiB/s', '32 MiB/s', '64 MiB/s']);
    expect(s.meetsTargets).toBe(true);
  });

  it('has the documented JSON shape; the post-copy run is replayed by hybrid with its page requests; a cancelled run is judged not completed', () => {
    expect(doc.calibration.name).toBe('qemu-7.2-tcg');
    expect(doc.calibration.constants.setupMs).toMatchObject({ value: expect.any(Number), unit: 'ms', source: expect.any(String) });
    const pc = doc.runs.find((r: any) => r.name === 'heavy-bw32-dt300-pc5');
    expect(pc.method).toBe('hybrid');
    expect(pc.command).toMatch(/--param switch-after=5013.01ms --param max-postcopy-bandwidth=33554432/); // when migrate-start-postcopy was sent
    expect(pc.postcopyRequests.measured).toBe(80);
    expect(pc.assumption).toMatch(/looped from its start/);
    expect(pc.assumption).toMatch(/downtime is QEMU's source-side figure/);
    expect(Math.abs(pc.totalTimeMs.relError)).toBeLessThan(0.1);
    expect(Math.abs(pc.transferredBytes.relError)).toBeLessThan(0.1);
    // The switch in parts (stop, the last sync per dirty-log page, the package): QEMU says 91 ms.
    expect(Math.abs(pc.downtimeMs.error)).toBeLessThan(3);
    // The guest is paused longer than QEMU's downtime: until the destination runs it (QEMU: 167 ms).
    expect(pc.postcopyGuestPauseMs.measured).toBeCloseTo(167.351, 3);
    expect(pc.postcopyGuestPauseMs.predicted).toBeGreaterThan(pc.downtimeMs.predicted + 50);
    const cancelled = doc.runs.find((r: any) => r.name === 'heavy-bw32-dt300');
    expect(cancelled.completed).toEqual({ predicted: false, measured: false });
    expect(cancelled.totalTimeMs.measured).toBe(30060);
    const m = doc.runs.find((r: any) => r.name === 'medium-bw32-dt300');
    for (const k of ['totalTimeMs', 'transferredBytes', 'dirtySyncCount', 'downtimeMs']) {
      expect(Object.keys(m[k]).sort()).toEqual(['error', 'measured', 'predicted', 'relError']);
      expect(m[k].error).toBeCloseTo(m[k].predicted - m[k].measured, 6);
    }
    // The first pass sends exactly the pages QEMU sent in its first round.
    expect(m.syncs[0].sentOverlap).toBeGreaterThan(0.98);
    expect(m.syncs[1].measuredDirtyPages).toBe(4325);
  });

  it('replays the XBZRLE runs with their own cache sizes: bytes within 5 %, time within 2 %, cache hits and misses against QEMU\'s counters', () => {
    const xb = doc.runs.filter((r: any) => r.method === 'xbzrle');
    expect(xb.map((r: any) => r.name)).toEqual(['heavy-bw32-dt300-xb32', 'medium-bw16-dt300-xb16', 'medium-bw16-dt300-xb64']);
    for (const r of xb) {
      const size = { 'heavy-bw32-dt300-xb32': 32, 'medium-bw16-dt300-xb16': 16, 'medium-bw16-dt300-xb64': 64 }[r.name as string]! * 2 ** 20;
      expect(r.command, r.name).toContain(`--param xbzrle-cache-size=${size}`);
      expect(Math.abs(r.transferredBytes.relError), r.name).toBeLessThanOrEqual(0.05);
      expect(Math.abs(r.totalTimeMs.relError), r.name).toBeLessThanOrEqual(0.02);
      // QEMU's cache rule replayed over the pages QEMU sent gives QEMU's own counters (zero pages,
      // which sent.jsonl.gz does not list, take no slots in that replay: a few pages apart at most).
      expect(Math.abs(r.xbzrleCacheHits.rule - r.xbzrleCacheHits.measured), r.name).toBeLessThanOrEqual(3);
      expect(Math.abs(r.xbzrleCacheMisses.rule - r.xbzrleCacheMisses.measured), r.name).toBeLessThanOrEqual(3);
      // The prediction, on its own page sequence: within 7 % of QEMU's counters.
      expect(Math.abs(r.xbzrleCacheHits.relError), r.name).toBeLessThanOrEqual(0.07);
      expect(Math.abs(r.xbzrleCacheMisses.relError), r.name).toBeLessThanOrEqual(0.07);
    }
    const [heavy, m16, m64] = xb;
    // The cancelled run has no final query-migrate: its counters come from the last qmp.jsonl.gz reply.
    expect(heavy.xbzrleCacheHits.measured).toBe(46076);
    expect(heavy.xbzrleCacheMisses.measured).toBe(186888);
    // With QEMU's default 64 MiB cache instead of its own 32 MiB the model made 28 syncs of QEMU's 14.
    expect(Math.abs(heavy.dirtySyncCount.error)).toBeLessThanOrEqual(2);
    expect(Math.abs(m16.dirtySyncCount.error)).toBeLessThanOrEqual(1);
    expect(m64.dirtySyncCount.error).toBe(0);
  });

  it('every post-copy run: page requests within 2× of QEMU\'s, total time within 5 %, downtime within 15 ms', () => {
    const pcs = doc.runs.filter((r: any) => r.method === 'hybrid');
    expect(pcs.map((r: any) => r.name).sort()).toEqual(['heavy-bw32-dt300-pc3', 'heavy-bw32-dt300-pc5', 'heavy-bw64-dt300-pc5', 'medium-bw16-dt300-pc4']);
    for (const r of pcs) {
      const ratio = r.postcopyRequests.predicted / r.postcopyRequests.measured;
      expect(ratio, `${r.name} requests ${r.postcopyRequests.predicted}/${r.postcopyRequests.measured}`).toBeGreaterThanOrEqual(0.5);
      expect(ratio, `${r.name} requests ${r.postcopyRequests.predicted}/${r.postcopyRequests.measured}`).toBeLessThanOrEqual(2);
      expect(Math.abs(r.totalTimeMs.relError), `${r.name} total time`).toBeLessThanOrEqual(0.05);
      expect(Math.abs(r.downtimeMs.error), `${r.name} downtime`).toBeLessThan(15);
    }
  });

  it('--out writes validate.csv and validate.json, and nothing else', () => {
    expect(readdirSync(out).sort()).toEqual(['validate.csv', 'validate.json']);
    const csv = readFileSync(join(out, 'validate.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toMatch(/^name,method,skipped,completed_predicted,completed_measured,total_time_ms_predicted,/);
    expect(csv.length).toBe(dirs.length + 1);
    expect(JSON.parse(readFileSync(join(out, 'validate.json'), 'utf8')).summary).toEqual(doc.summary);
  });

  it('adds nothing to the model: the printed simulate command gives the same prediction', () => {
    const m = doc.runs.find((r: any) => r.name === 'medium-bw32-dt300');
    const args = m.command.replace(/^dirtylab /, '').split(' ');
    const r = dirtylab(...args, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.totalTimeMs).toBe(m.totalTimeMs.predicted);
    expect(j.transferredBytes).toBe(m.transferredBytes.predicted);
    expect(j.dirtySyncCount).toBe(m.dirtySyncCount.predicted);
  });

  it('a malformed run directory exits 2 with one line', () => {
    const bad = mkdtempSync(join(tmpdir(), 'dirtylab-badrun-'));
    mkdirSync(join(bad, 'x'));
    writeFileSync(join(bad, 'x', 'trace.jsonl.gz'), '');
    const r = dirtylab('validate', join(bad, 'x'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/result\.json: expected an existing file: a run directory holds result\.json$/);
    expect(dirtylab('validate', join(bad, 'nope')).code).toBe(2);
    writeFileSync(join(bad, 'x', 'result.json'), '{"params": 3}');
    expect(dirtylab('validate', join(bad, 'x')).stderr).toMatch(/expected a "params" object/);
  });
});

describe('validate --leave-out: predicting runs the profile never saw', () => {
  it('leave-one-run-out: median |downtime error| ≤ 8 ms, ≤ 12 ms in every bandwidth class, time and bytes on target', () => {
    const r = dirtylab('validate', ...dirs, '--leave-out', 'run', '--json', '--no-per-sync');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.leaveOut).toBe('run');
    expect(doc.folds.length).toBe(dirs.length);
    // Each run's fold leaves exactly that run out of the profile's sources.
    const f = doc.folds.find((x: any) => x.leftOut === 'medium-bw64-dt300-q1');
    expect(f.constants.linkBytesPerSec.source).not.toMatch(/medium-bw64-dt300-q1[,)]/);
    expect(f.constants.linkBytesPerSec.source).toMatch(/medium-bw64-dt300-q2/);
    const s = doc.summary;
    expect(s.medianAbsDowntimeErrorMs).toBeLessThanOrEqual(8);
    for (const [bw, g] of Object.entries(s.byBandwidth) as [string, any][]) expect(g.medianAbsDowntimeErrorMs, bw).toBeLessThanOrEqual(12);
    expect(s.medianAbsRelError.totalTimeMs).toBeLessThanOrEqual(0.03);
    expect(s.medianAbsRelError.transferredBytes).toBeLessThanOrEqual(0.01);
    expect(s.meetsTargets).toBe(true);
  }, 120_000);

  it('leave-one-family-out: median |time error| ≤ 3 % for every workload family with at least two quiet runs', () => {
    const r = dirtylab('validate', ...dirs, '--leave-out', 'family', '--json', '--no-per-sync');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    const fams = Object.entries(doc.summary.byFamily).filter(([, g]: [string, any]) => g.runs >= 2);
    expect(fams.map(([k]) => k).sort()).toEqual(['128,20000,8,0.2', '64,2000,4,0.5', '64,500,4,0.9']);
    for (const [k, g] of fams as [string, any][]) expect(g.medianAbsRelError.totalTimeMs, k).toBeLessThanOrEqual(0.03);
    // The heavy family is predicted from constants fitted on the light, medium and phases runs only.
    const heavy = doc.folds.find((x: any) => x.leftOut === '128,20000,8,0.2');
    expect(heavy.constants.zeroPageCpuUs.source).not.toMatch(/heavy/);
  }, 120_000);

  it('--check exits 4 when a target is not met, 0 when all are', () => {
    expect(dirtylab('validate', join('test/fixtures/qemu-runs', 'medium-bw32-dt300'), '--check', '--no-per-sync').code).toBe(0);
    // A run on a busy host alone: no quiet run to judge, so the targets are not met.
    expect(dirtylab('validate', join('test/fixtures/qemu-runs', 'medium-bw64-dt300'), '--check', '--no-per-sync').code).toBe(4);
  });
});

describe('leave-one-run-out on the XBZRLE runs', () => {
  it('each XBZRLE run, predicted by a profile fitted without it: bytes within 5 %, time within 2 %', () => {
    const r = dirtylab('validate', ...dirs, '--leave-out', 'run', '--json');
    expect(r.code).toBe(0);
    const xb = JSON.parse(r.stdout).runs.filter((x: any) => x.method === 'xbzrle');
    expect(xb.length).toBe(3);
    for (const x of xb) {
      expect(x.calibration).toBe(`leave-out:${x.name}`);
      expect(Math.abs(x.transferredBytes.relError), x.name).toBeLessThanOrEqual(0.05);
      expect(Math.abs(x.totalTimeMs.relError), x.name).toBeLessThanOrEqual(0.02);
    }
  }, 120_000);
});

describe('the qemu-7.2-tcg profile follows from its rules', () => {
  const runs = dirs.map((d) => readRun(join(root, d)));
  let per: RunConstants[];
  let kernel: Kernel;
  beforeAll(async () => {
    kernel = await Kernel.load();
    per = await allRunConstants(runs, kernel);
  }, 120_000);

  it('every constant, re-derived from the runs (busy runs left out)', () => {
    expect(per.filter((c) => c.busy).map((c) => c.name).sort()).toEqual(['light-bw64-dt100', 'medium-bw16-dt300-ac', 'medium-bw32-dt100', 'medium-bw64-dt300', 'phases-bw32-dt300']);
    const p = profileFrom('rederived', per);
    const keys = ['setupMs', 'switchoverFixedMs', 'deviceStateBytes', 'phantomPages', 'zeroPageCpuUs', 'zeroPageCpuUsPerKWrites', 'xbzrleEncodedBytes', 'xbzrleOverflowShare', 'xbzrleCpuUs',
      'postcopyStopMs', 'postcopySyncUsPerPage', 'postcopyPackageMs', 'postcopyDstStartMs', 'postcopySocketBytes', 'postcopyDrainRatio'] as const;
    for (const k of keys) {
      expect(p[k], k).toBeCloseTo(QEMU_72_TCG[k] as number, 2);
    }
    // The last sync costs about 3 µs per page of the dirty log on the heavy runs (TCG's per-page path).
    for (const c of per.filter((x) => x.family === '128,20000,8,0.2' && x.postcopySyncUsPerPage !== null)) expect(c.postcopySyncUsPerPage!).toBeGreaterThan(2.4);
    for (const c of per.filter((x) => x.family === '128,20000,8,0.2' && x.postcopySyncUsPerPage !== null)) expect(c.postcopySyncUsPerPage!).toBeLessThan(3.1);
    expect(p.linkBytesPerSec! / QEMU_72_TCG.linkBytesPerSec!).toBeCloseTo(1, 6);
    expect(p.otherBlockPages).toEqual(QEMU_72_TCG.otherBlockPages);
    expect(p.slotOvershootMs).toBeCloseTo(QEMU_72_TCG.slotOvershootMs!, 3);
    // XBZRLE: the mean wire bytes of a hit per run, from QEMU's counters (the cancelled heavy run's from
    // its last qmp.jsonl.gz reply); no run overflowed; the encoding CPU is QEMU's documented 2.25 GB/s.
    const xb = Object.fromEntries(per.filter((c) => c.xbzrleEncodedBytes !== null).map((c) => [c.name, Math.round(c.xbzrleEncodedBytes! * 100) / 100]));
    expect(xb).toEqual({ 'heavy-bw32-dt300-xb32': 29.39, 'medium-bw16-dt300-xb16': 23.52, 'medium-bw16-dt300-xb64': 19.92 });
    expect(per.filter((c) => c.xbzrleOverflowShare !== null).map((c) => c.xbzrleOverflowShare)).toEqual([0, 0, 0]);
    expect(p.xbzrleCpuUs).toBeCloseTo((4096 / 2.25e9) * 1e6, 2);
    const heavyXb = runs.find((r) => r.name === 'heavy-bw32-dt300-xb32')!;
    expect(heavyXb.xbzrle).toEqual({ cacheSize: 33554432, counters: { bytes: 985483, pages: 46076, cacheMiss: 186888, overflow: 0, atMs: 30062.442 } });
    // The device state is ~114 KB on every quiet run (the stream minus the RAM bytes).
    for (const c of per.filter((x) => !x.busy && x.deviceStateBytes !== null && x.postcopyStopMs === null)) expect(Math.abs(c.deviceStateBytes! - 114_000)).toBeLessThan(4000);
  });

  it('each post-copy run, predicted by a profile fitted without it: requests within 2×, total time within 5 %', async () => {
    for (const r of runs.filter((x) => x.capability === 'postcopy')) {
      const cal = profileFrom(`without:${r.name}`, per.filter((c) => c.name !== r.name));
      registerCalibration(cal);
      const v = await validateRun(r, cal, kernel, { perSync: false });
      const ratio = v.postcopyRequests!.predicted! / v.postcopyRequests!.measured!;
      expect(ratio, `${r.name} requests`).toBeGreaterThanOrEqual(0.5);
      expect(ratio, `${r.name} requests`).toBeLessThanOrEqual(2);
      expect(Math.abs(v.totalTimeMs!.relError!), `${r.name} total time`).toBeLessThanOrEqual(0.05);
    }
  }, 60_000);
  it('the zero-page CPU line: least squares, never a negative slope', () => {
    expect(fitLine([[1, 10], [3, 14]])).toEqual({ a: 8, b: 2 });
    expect(fitLine([[1, 14], [3, 10]])).toEqual({ a: 12, b: 0 }); // a falling line is refused: the median
    expect(fitLine([[2, 5], [2, 7], [2, 9]])).toEqual({ a: 7, b: 0 }); // one distinct rate: no slope
  });
});

describe('mapping a recorded trace back to guest time', () => {
  it('removes a setup stall and a throttle (hand-computed)', () => {
    // t = 0 at 1000 ms into the file. Stalled from t = 0 to t = 100 ms, then free, then throttled 50 % from t = 300 ms.
    const MS = 1e6;
    const t = {
      header: { pageSize: 4096, nPages: 4, timeUnit: 'ns' as const, epochLen: 100 * MS, nEpochs: 4, hasTimes: true, hasCounts: false, zeroAtStart: null, meta: { timeZeroNs: 1000 * MS } },
      epochs: [900, 1000, 1200, 1400].map((s) => ({ t0: s * MS, t1: (s + 100) * MS, pages: Uint32Array.from([1]) })),
    };
    const w = warpTrace(t, [{ fromMs: 0, rate: 0 }, { fromMs: 100, rate: 1 }, { fromMs: 300, rate: 0.5 }]);
    // Recorded ms → guest ms: 900→900, 1000→1000, 1100→1000 (stalled), 1200→1100, 1300→1200, 1400→1250, 1500→1300.
    expect(w.epochs.map((e) => [e.t0 / MS, e.t1 / MS])).toEqual([[900, 1000], [1000, 1000], [1100, 1200], [1250, 1300]]);
  });
});
