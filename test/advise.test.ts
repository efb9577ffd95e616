// `dirtylab advise` (issue 14): the checks against real QEMU on the bundled traces, the printed QMP settings
// replayed through simulate, and a synthetic (imported) input. Runs the real CLI (built by pretest).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../src/kernel/index.js';
import { simulate } from '../src/sim/simulate.js';
import { readTrace } from '../src/trace/open.js';
import { fileInput } from '../src/trace/node.js';
import type { AdviseResult } from '../src/advise/advise.js';
import type { QmpCommand } from '../src/advise/settings.js';
import { dirtylab, root } from './run-cli.js';

/** Turn the printed QMP commands back into simulate() options, independently of advise's own RunSpec. */
function fromQmp(qmp: QmpCommand[]) {
  let method = 'qemu-precopy';
  const params: Record<string, string> = {};
  let bandwidth = 0;
  let downtimeLimitMs = 300;
  const downtimeSteps: { atMs: number; limitMs: number }[] = [];
  for (const c of qmp) {
    if (c.execute === 'migrate-set-capabilities') {
      const on = (c.arguments!.capabilities as { capability: string; state: boolean }[]).filter((x) => x.state).map((x) => x.capability);
      if (on.includes('auto-converge')) method = 'qemu-auto-converge';
      if (on.includes('dirty-limit')) method = 'qemu-dirty-limit';
    } else if (c.execute === 'migrate-set-parameters') {
      const a = c.arguments!;
      if (c.atMs !== undefined) downtimeSteps.push({ atMs: c.atMs, limitMs: a['downtime-limit'] as number });
      else {
        if (a['max-bandwidth'] !== undefined) bandwidth = a['max-bandwidth'] as number;
        if (a['downtime-limit'] !== undefined) downtimeLimitMs = a['downtime-limit'] as number;
      }
    } else if (c.execute === 'migrate-start-postcopy') {
      expect(c.when).toMatch(/first pass/);
      method = 'hybrid';
      params['switch-after'] = 'first-pass';
    }
  }
  return { method, params, bandwidth, downtimeLimitMs, downtimeSteps };
}

let kernel: Kernel;
beforeAll(async () => { kernel = await Kernel.load(); });

describe('advise on the bundled traces (real QEMU 7.2 outcomes)', () => {
  it('heavy at 32 MiB/s, 300 ms: pre-copy does not converge (real QEMU did not); the printed QMP settings, replayed with simulate, meet the constraints', async () => {
    const r = dirtylab('advise', 'data/heavy-bw32-dt300.dpt', '--bandwidth', '32MiB/s', '--downtime-limit', '300ms', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const a = JSON.parse(r.stdout) as AdviseResult;
    expect(a.precopy.converges).toBe(false);
    expect(a.precopy.convergedFraction).toBeLessThan(0.95);
    expect(a.minDowntimeLimitMs).toBeGreaterThan(300);
    expect(a.minBandwidthBytesPerSec).toBeGreaterThan(32 * 2 ** 20);
    expect(a.options.length).toBeGreaterThan(0);
    expect(a.options.map((o) => o.id)).toEqual(expect.arrayContaining(['auto-converge', 'postcopy-after-first-pass']));
    expect(a.settings).not.toBeNull();
    for (const k of ['qmp', 'virsh', 'kubevirt', 'nova'] as const) expect(a.settings![k]).toBeTruthy();
    // Replay the printed QMP settings at every start offset advise used.
    const s = fromQmp(a.settings!.qmp);
    const trace = await readTrace(fileInput(join(root, 'data/heavy-bw32-dt300.dpt')));
    for (const start of a.offsets) {
      const x = await simulate(trace, { method: s.method, params: s.params, bandwidth: s.bandwidth, downtimeLimitMs: s.downtimeLimitMs, downtimeSteps: s.downtimeSteps.length ? s.downtimeSteps : undefined, startGuestNs: start, maxTimeMs: a.given.deadlineMs, kernel });
      expect(x.completed).toBe(true);
      expect(x.totalTimeMs).toBeLessThanOrEqual(a.given.deadlineMs);
      expect(x.downtimeMs!).toBeLessThanOrEqual(a.given.maxDowntimeMs);
      expect(x.guestStallMs / x.totalTimeMs).toBeLessThanOrEqual(a.given.maxGuestSlowdown);
    }
    // The JSON carries what the schema requires; the Nova and KubeVirt renderings were replayed too.
    const schema = JSON.parse(readFileSync(join(root, 'schemas/advise.schema.json'), 'utf8')) as { required: string[] };
    for (const k of schema.required) expect(a).toHaveProperty(k);
    expect(a.orchestrators.map((x) => x.orchestrator)).toEqual(['nova', 'kubevirt']);
  }, 240_000);

  it('medium at 32 MiB/s, 300 ms: pre-copy converges (real QEMU did), and the text says so', () => {
    const r = dirtylab('advise', 'data/medium-bw32-dt300.dpt', '--bandwidth', '32MiB/s', '--downtime-limit', '300ms', '--offsets', '5');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/CONVERGES in 100 % of start offsets/);
    expect(r.stdout).toMatch(/recommended: precopy/);
    expect(r.stdout).toMatch(/"downtime-limit":300,"max-bandwidth":33554432/);
    expect(r.stdout).toMatch(/virsh migrate-setmaxdowntime DOMAIN 300/);
    expect(r.stdout).toMatch(/kind: MigrationPolicy/);
    expect(r.stdout).toMatch(/live_migration_bandwidth = 32/);
    expect(r.stdout).toMatch(/validated on 26 real runs/);
    expect(r.stdout).toMatch(/nova +meets the constraints/);
    expect(r.stdout).toMatch(/kubevirt +meets the constraints/);
  }, 120_000);
});

describe('advise on a synthetic trace (import calc-dirty-rate)', () => {
  it('says the trace is synthetic, reports the fit error and runs both shape assumptions', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dirtylab-advise-'));
    const dpt = join(dir, 'cdr.dpt');
    const imp = dirtylab('import', 'calc-dirty-rate', 'test/fixtures/import/calc-dirty-rate.jsonl', '--ram-size', '64MiB', '-o', dpt);
    expect(imp.code).toBe(0);
    const r = dirtylab('advise', dpt, '--bandwidth', '32MiB/s', '--downtime-limit', '300ms', '--offsets', '3', '--json');
    expect(r.code).toBe(0);
    const a = JSON.parse(r.stdout) as AdviseResult;
    expect(a.trace.synthetic).toBe(true);
    expect(a.synthetic!.note).toMatch(/SYNTHETIC/);
    expect(typeof a.synthetic!.fitWorstRelError).toBe('number');
    expect(typeof a.synthetic!.shapeWorstRelError).toBe('number');
    expect(a.synthetic!.shapes.map((s) => s.shape)).toEqual(['hot', 'uniform']);
    const t = dirtylab('advise', dpt, '--bandwidth', '32MiB/s', '--downtime-limit', '300ms', '--offsets', '3');
    expect(t.stdout).toMatch(/SYNTHETIC/);
    expect(t.stdout).toMatch(/under the hot shape/);
    expect(t.stdout).toMatch(/under the uniform shape/);
  }, 180_000);
});
