// End-to-end: `dirtylab simulate` on the bundled real traces.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QEMU_72_TCG } from '../src/sim/profiles.js';
import { dirtylab } from './run-cli.js';

const medium = 'data/medium-bw32-dt300.dpt';

describe('dirtylab simulate', () => {
  it('prints a summary and a per-sync table', () => {
    const r = dirtylab('simulate', medium, '--method', 'qemu-precopy', '--bandwidth', '32MiB/s', '--start-time', '0');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^method\s+qemu-precopy$/m);
    expect(r.stdout).toMatch(/^result\s+completed \(converged\) in [\d.]+ s; downtime [\d.]+ ms/m);
    expect(r.stdout).toMatch(/^sync\s+start ms\s+end ms\s+pages sent/m);
    expect(r.stdout).toMatch(/^\s+\d+\*\s/m); // the final copy row
  });

  it('--json has the fields of docs/outputs.md and provenance, with the units as given', () => {
    const r = dirtylab('simulate', medium, '-m', 'qemu-precopy', '--bandwidth', '32MiB/s', '--downtime-limit', '0.3s', '--start-time', '0', '--json', '-p', 'rearm=chunk');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    for (const k of ['completed', 'converged', 'stopReason', 'totalTimeMs', 'downtimeMs', 'setupTimeMs', 'transferredBytes', 'pagesSent', 'pagesResent',
      'zeroPagesSent', 'dirtySyncCount', 'rounds', 'finalDirtyPages', 'remoteFaults', 'guestStallMs', 'maxThrottlePct', 'traceLooped', 'provenance']) {
      expect(j, k).toHaveProperty(k);
    }
    for (const k of ['sync', 'startMs', 'endMs', 'pagesSent', 'bytes', 'dirtyPages', 'bandwidthBytesPerSec', 'expectedDowntimeMs', 'throttlePct']) {
      expect(j.rounds[0], k).toHaveProperty(k);
    }
    // A bundled trace names the host it was recorded on: its profile is the default, and the final copy
    // runs at that host's measured speed, never at --bandwidth (QEMU lifts max-bandwidth for it).
    expect(j.provenance).toMatchObject({
      schemaVersion: 1, method: 'qemu-precopy', calibration: 'qemu-7.2-tcg', writeTime: 'uniform', rearm: 'chunk',
      network: { bandwidthBytesPerSec: 32 * 2 ** 20, linkBandwidthBytesPerSec: QEMU_72_TCG.linkBytesPerSec, downtimeLimitMs: 300 },
    });
    expect(j.provenance.traceSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(j.provenance.packageVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(j.dirtySyncCount).toBe(j.rounds.length);
    expect(j.rounds.reduce((s: number, x: { pagesSent: number }) => s + x.pagesSent, 0)).toBe(j.pagesSent);
  });

  it('a variant by ID or by --param, named in the result', () => {
    const a = JSON.parse(dirtylab('simulate', medium, '-m', 'double-iteration/two-round-hot', '--json').stdout);
    const b = JSON.parse(dirtylab('simulate', medium, '-m', 'double-iteration', '-p', 'variant=two-round-hot', '--json').stdout);
    expect(a.method).toBe('double-iteration/two-round-hot');
    expect(b.method).toBe('double-iteration/two-round-hot');
    expect(a.transferredBytes).toBe(b.transferredBytes);
    expect(JSON.parse(dirtylab('simulate', medium, '-m', 'double-iteration', '--json').stdout).method).toBe('double-iteration/confirm');
  });

  it('a migration that does not complete is a result (exit 0)', () => {
    const r = dirtylab('simulate', 'data/heavy-bw32-dt300.dpt', '-m', 'qemu-precopy', '--bandwidth', '32MiB/s', '--max-time', '5s', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ completed: false, converged: false, stopReason: 'max-time', downtimeMs: null });
    const s = dirtylab('simulate', 'data/light-bw32-dt300.dpt', '-m', 'qemu-precopy', '--bandwidth', '1MiB/s', '--on-trace-end', 'stop', '--json');
    expect(JSON.parse(s.stdout)).toMatchObject({ completed: false, stopReason: 'trace-end' });
  });

  it('usage errors exit 1 and list what is valid; a bad trace exits 2', () => {
    const m = dirtylab('simulate', medium, '-m', 'warp-drive');
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/unknown method "warp-drive"; methods: stop-and-copy, precopy, qemu-precopy/);
    const p = dirtylab('simulate', medium, '-m', 'qemu-precopy', '-p', 'xen=v2');
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/takes no parameter "xen"; it takes: avail-switchover-bandwidth, multifd-channels, rearm/);
    const v = dirtylab('simulate', medium, '-m', 'precopy', '-p', 'xen=v3');
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/xen must be one of legacy, v2/);
    expect(dirtylab('simulate', medium, '-m', 'precopy', '--bandwidth', 'fast').code).toBe(1);
    expect(dirtylab('simulate', medium, '-m', 'precopy', '--downtime-limit', '3 parsecs').code).toBe(1);
    expect(dirtylab('simulate', medium, '-m', 'precopy', '--start-epoch', '5000').code).toBe(1);
    expect(dirtylab('simulate', medium, '-m', 'precopy', '--calibration', 'mars').stderr).toMatch(/unknown calibration "mars"; profiles: ideal/);
    const bad = dirtylab('simulate', 'test/fixtures/nonexistent.dpt', '-m', 'precopy');
    expect(bad.code).toBe(2);
  });

  it('--help lists the methods and their parameters from the registry', () => {
    const h = dirtylab('simulate', '--help');
    expect(h.code).toBe(0);
    for (const s of ['stop-and-copy', 'double-iteration/confirm', 'double-iteration/double-final', 'qemu-dirty-limit', '--param cpu-throttle-initial=percent (default 20; unit %)', '--param rearm=sync|chunk', '--param xen=legacy|v2']) {
      expect(h.stdout).toContain(s);
    }
  });

  it('units: 1Gbit/s = 125,000,000 B/s; MB = 10^6; a bare bandwidth is bytes/s', () => {
    const j = (bw: string) => JSON.parse(dirtylab('simulate', 'data/light-bw32-dt300.dpt', '-m', 'stop-and-copy', '--bandwidth', bw, '--json').stdout).provenance.network.bandwidthBytesPerSec;
    expect(j('1Gbit/s')).toBe(125_000_000);
    expect(j('32MB/s')).toBe(32_000_000);
    expect(j('1048576')).toBe(1_048_576);
  });

  it('the default profile follows the trace; the final copy never runs at --bandwidth; the first line says both', () => {
    const bundled = dirtylab('simulate', medium, '-m', 'qemu-precopy', '--bandwidth', '32MiB/s');
    expect(bundled.code).toBe(0);
    expect(bundled.stdout.split('\n')[0]).toBe('Host profile: qemu-7.2-tcg (final copy at 535.06 MiB/s)');
    const dir = mkdtempSync(join(tmpdir(), 'dirtylab-default-'));
    const gen = join(dir, 'u.dpt');
    expect(dirtylab('generate', 'uniform', '-o', gen, '--pages', '4096', '--epochs', '20').code).toBe(0);
    const j = JSON.parse(dirtylab('simulate', gen, '-m', 'qemu-precopy', '--bandwidth', '32MiB/s', '--json').stdout);
    expect(j.provenance.calibration).toBe('ideal');
    expect(j.provenance.network.linkBandwidthBytesPerSec).toBe(10e9 / 8); // 10 Gbit/s
    const h = dirtylab('simulate', gen, '-m', 'qemu-precopy', '--link-bandwidth', '1Gbit/s');
    expect(h.stdout.split('\n')[0]).toBe('Host profile: ideal (final copy at 119.21 MiB/s, --link-bandwidth)');
    // The ideal profile's downtime: final bytes at 10 Gbit/s, not at 32 MiB/s.
    expect(j.downtimeMs).toBeCloseTo((j.downtimeBytes / (10e9 / 8)) * 1000 + 0.5, 6);
    // --calibration overrides the header; the profile's measured switchover constants apply unless given.
    const c = JSON.parse(dirtylab('simulate', medium, '-m', 'qemu-precopy', '--calibration', 'ideal', '--json').stdout);
    expect(c.provenance.calibration).toBe('ideal');
    const q = JSON.parse(dirtylab('simulate', medium, '-m', 'qemu-precopy', '--json').stdout);
    expect(q.provenance.params).toMatchObject({ 'switchover-fixed': QEMU_72_TCG.switchoverFixedMs, 'device-state': QEMU_72_TCG.deviceStateBytes, rtt: 0 });
    const q2 = JSON.parse(dirtylab('simulate', medium, '-m', 'qemu-precopy', '-p', 'switchover-fixed=10ms', '--json').stdout);
    expect(q2.provenance.params['switchover-fixed']).toBe(10);
    expect(q2.downtimeMs - q.downtimeMs).toBeCloseTo(10 - QEMU_72_TCG.switchoverFixedMs!, 6);
  });

  it('--downtime-steps raises the limit during the run, as Nova and KubeVirt do', () => {
    // A 1 ms limit is below what TCG's phantom pages alone need: plain QEMU never converges.
    const stuck = JSON.parse(dirtylab('simulate', medium, '-m', 'qemu-precopy', '--bandwidth', '32MiB/s', '--downtime-limit', '1ms', '--max-time', '12s', '--json').stdout);
    expect(stuck.completed).toBe(false);
    const r = JSON.parse(dirtylab('simulate', medium, '-m', 'qemu-precopy', '--bandwidth', '32MiB/s', '--downtime-limit', '1ms', '--downtime-steps', '2ms@6s/300ms@8s', '--max-time', '12s', '--json').stdout);
    expect(r.completed).toBe(true);
    expect(r.provenance.downtimeSteps).toEqual([{ limitMs: 2, atMs: 6000 }, { limitMs: 300, atMs: 8000 }]);
    // The switch comes at the first slot end after the 300 ms step (QEMU reads the limit there).
    const stop = r.totalTimeMs - r.downtimeMs;
    expect(stop).toBeGreaterThanOrEqual(8000);
    expect(stop).toBeLessThan(8000 + 2 * 101);
    const bad = dirtylab('simulate', medium, '-m', 'qemu-precopy', '--downtime-steps', '300ms');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/not a downtime step \(use LIMIT@TIME/);
    expect(dirtylab('simulate', medium, '-m', 'qemu-precopy', '--downtime-steps', '300ms@8s/600ms@4s').stderr).toMatch(/times must increase/);
  });
});

