// End-to-end: `dirtylab simulate` on the bundled real traces.
import { describe, expect, it } from 'vitest';
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

  it('--json has the fields of DESIGN §4.4 and provenance, with the units as given', () => {
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
    expect(j.provenance).toMatchObject({
      schemaVersion: 1, method: 'qemu-precopy', calibration: 'ideal', writeTime: 'uniform', rearm: 'chunk',
      network: { bandwidthBytesPerSec: 32 * 2 ** 20, linkBandwidthBytesPerSec: 32 * 2 ** 20, downtimeLimitMs: 300 },
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
    expect(p.stderr).toMatch(/takes no parameter "xen"; it takes: avail-switchover-bandwidth, rearm/);
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
    for (const s of ['stop-and-copy', 'double-iteration/confirm', 'double-iteration/double-final', 'qemu-dirty-limit', '--param cpu-throttle-initial=percent (default 20)', '--param rearm=sync|chunk', '--param xen=legacy|v2']) {
      expect(h.stdout).toContain(s);
    }
  });

  it('units: 1Gbit/s = 125,000,000 B/s; MB = 10^6; a bare bandwidth is bytes/s', () => {
    const j = (bw: string) => JSON.parse(dirtylab('simulate', 'data/light-bw32-dt300.dpt', '-m', 'stop-and-copy', '--bandwidth', bw, '--json').stdout).provenance.network.bandwidthBytesPerSec;
    expect(j('1Gbit/s')).toBe(125_000_000);
    expect(j('32MB/s')).toBe(32_000_000);
    expect(j('1048576')).toBe(1_048_576);
  });
});
