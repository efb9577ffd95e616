/**
 * The settings to apply for an advised option, ready to paste: QMP commands
 * (migrate-set-capabilities / migrate-set-parameters, with the ones to send
 * during the migration marked `atMs` or `when`), `virsh migrate` flags with
 * `virsh migrate-setmaxdowntime`, a KubeVirt MigrationPolicy and Nova's
 * [libvirt] options. The mapping between them: notes/nova-kubevirt.md §C
 * (libvirt src/qemu/qemu_migration_params.c; docs/manpages/virsh.rst), §A.5
 * (Nova driver.py _prepare_migration_flags), §B.6 (KubeVirt
 * MigrationPolicySpec).
 */
import type { DowntimeStep } from '../sim/engine.js';

/** One QMP command; `atMs` (ms after `migrate`) or `when` says when to send it if not before `migrate`. */
export interface QmpCommand {
  execute: string;
  arguments?: Record<string, unknown>;
  atMs?: number;
  when?: string;
}

/** The rendered settings. */
export interface Settings {
  option: string;
  qmp: QmpCommand[];
  virsh: string[];
  kubevirt: string;
  nova: string[];
  /** Where an orchestrator cannot express the option exactly. */
  caveats: string[];
  /** The printed Nova and KubeVirt settings as runs of the `nova` and `kubevirt` methods (advise replays them). */
  orchestratorRuns: { nova: Run; kubevirt: Run };
}

/** What simulate() ran for the option (see advise.ts RunSpec). */
export interface Run {
  method: string;
  params: Record<string, string>;
  bandwidth: number;
  downtimeLimitMs: number;
  downtimeSteps?: DowntimeStep[];
}

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** Render the settings of one advised option. */
export function renderSettings(option: string, run: Run, ctx: { ramBytes: number; maxDowntimeMs: number; deadlineMs: number }): Settings {
  const mib = Math.ceil(run.bandwidth / MiB);
  const dl = Math.round(run.downtimeLimitMs);
  const autoConverge = run.method === 'qemu-auto-converge';
  const dirtyLimit = run.method === 'qemu-dirty-limit';
  const postcopy = run.method === 'hybrid' || (run.method === 'kubevirt' && run.params['allow-post-copy'] === 'true');
  const caps = [
    { capability: 'auto-converge', state: autoConverge },
    { capability: 'postcopy-ram', state: postcopy },
    ...(dirtyLimit ? [{ capability: 'dirty-limit', state: true }] : []),
  ];
  const params: Record<string, unknown> = { 'downtime-limit': dl, 'max-bandwidth': mib * MiB };
  if (autoConverge) Object.assign(params, { 'cpu-throttle-initial': 20, 'cpu-throttle-increment': 10, 'throttle-trigger-threshold': 50, 'max-cpu-throttle': 99 });
  if (dirtyLimit) Object.assign(params, { 'vcpu-dirty-limit': 1, 'x-vcpu-dirty-limit-period': 1000 });
  const qmp: QmpCommand[] = [
    { execute: 'migrate-set-capabilities', arguments: { capabilities: caps } },
    { execute: 'migrate-set-parameters', arguments: params },
  ];
  for (const s of run.downtimeSteps ?? []) qmp.push({ execute: 'migrate-set-parameters', arguments: { 'downtime-limit': s.limitMs }, atMs: s.atMs });
  if (run.method === 'hybrid') qmp.push({ execute: 'migrate-start-postcopy', when: 'after the first pass (query-migrate: the first dirty-sync after setup, ram.dirty-sync-count ≥ 2)' });
  if (run.method === 'kubevirt') qmp.push({ execute: 'migrate-start-postcopy', when: 'when remaining bytes stall for 40 s and reach a local minimum (KubeVirt stall detection decides)' });

  const flags = ['--live', '--p2p', '--persistent', '--undefinesource', `--bandwidth ${mib}`];
  if (autoConverge) flags.push('--auto-converge', '--auto-converge-initial 20', '--auto-converge-increment 10');
  if (run.method === 'hybrid') flags.push('--postcopy', '--postcopy-after-precopy');
  if (run.method === 'kubevirt') flags.push('--postcopy');
  const virsh = [
    `virsh migrate ${flags.join(' ')} DOMAIN qemu+tcp://DEST/system &`,
    `virsh migrate-setmaxdowntime DOMAIN ${dl}   # while the job runs (libvirt sets downtime-limit on the running migration)`,
    ...(run.downtimeSteps ?? []).map((s) => `sleep-until ${s.atMs / 1000}s; virsh migrate-setmaxdowntime DOMAIN ${s.limitMs}`),
  ];
  const caveats: string[] = [];
  if (dirtyLimit) caveats.push('dirty-limit: no virsh flag, KubeVirt field or Nova option sets it; use the QMP commands (QEMU ≥ 8.1, KVM with dirty-ring)');
  if (run.method === 'kubevirt') virsh.push('virsh migrate-postcopy DOMAIN   # when remaining bytes stall at a local minimum');

  // KubeVirt MigrationPolicy (migrations.kubevirt.io/v1alpha1).
  const y = [
    'apiVersion: migrations.kubevirt.io/v1alpha1',
    'kind: MigrationPolicy',
    'metadata:',
    '  name: dirtylab-advised',
    'spec:',
    '  selectors:',
    '    virtualMachineInstanceSelector:',
    '      dirtylab-advised: "true"',
    `  bandwidthPerMigration: ${mib}Mi`,
    `  allowAutoConverge: ${autoConverge}`,
    `  allowPostCopy: ${postcopy}`,
  ];
  const gb = Math.ceil(ctx.ramBytes / 1e9);
  const perGiB = Math.max(1, Math.ceil(ctx.deadlineMs / 1000 / gb));
  y.push(`  completionTimeoutPerGiB: ${perGiB}   # ${gb} GB (decimal, rounded up) × ${perGiB} s ≥ the ${ctx.deadlineMs / 1000} s deadline`);
  if (dl !== 300 || run.downtimeSteps?.length) y.push(`  maxDowntimeMs: ${run.downtimeSteps?.length ? ctx.maxDowntimeMs : dl}   # needs feature gate MigrationDowntimeTuning or MigrationStallDetection`);
  if (run.downtimeSteps?.length) {
    y.push('  experimental:', '    downtimeTuning:', `      initialMs: ${dl}`, `      steps: ${run.downtimeSteps.length}`, '      startAfterIteration: 3', `      cooldownSeconds: ${Math.round((run.downtimeSteps[1]?.atMs ?? 10_000) / 1000 - (run.downtimeSteps[0]?.atMs ?? 0) / 1000) || 10}`);
    caveats.push('KubeVirt\'s ramp starts its steps at iteration 3 and bumps by trunc((max − initial)/steps) ms; the advised ramp was simulated as one step every 10 s from migrate');
  }
  if (run.method === 'hybrid') {
    y.push('  allowWorkloadDisruption: true');
    caveats.push('KubeVirt switches to post-copy at its completion timeout (or on a stall with MigrationStallDetection), not after the first pass: the first-pass switch is virsh/QMP only');
  }
  if (run.method === 'kubevirt') y.push('  allowWorkloadDisruption: true', '  experimental:', '    stallDetector:   # feature gate MigrationStallDetection', '      stallProgressTimeout: 40', '      stallMargin: 4', '      switchoverTimeout: 60');
  if (dl !== 300 && !run.downtimeSteps?.length) caveats.push(`KubeVirt leaves QEMU's 300 ms downtime-limit unless maxDowntimeMs is set under a feature gate; ${dl} ms needs it`);

  // Nova [libvirt] options.
  const dataGb = Math.max(2, ctx.ramBytes / GiB);
  const nova = [
    '[libvirt]',
    `live_migration_bandwidth = ${mib}`,
    `live_migration_downtime = ${Math.max(100, run.downtimeSteps?.length ? ctx.maxDowntimeMs : dl)}`,
    'live_migration_downtime_steps = 3',
    'live_migration_downtime_delay = 3',
    `live_migration_completion_timeout = ${Math.max(1, Math.ceil(ctx.deadlineMs / 1000 / dataGb))}`,
    `live_migration_timeout_action = ${postcopy ? 'force_complete' : 'abort'}`,
    `live_migration_permit_post_copy = ${postcopy ? 'True' : 'False'}`,
    `live_migration_permit_auto_converge = ${autoConverge ? 'True' : 'False'}`,
  ];
  caveats.push(`Nova always starts at live_migration_downtime / steps and steps up every delay × data_gb s (data_gb = ${dataGb.toFixed(2)} here): with 3 steps and 3 s/GiB the limit reaches ${Math.max(100, dl)} ms after ${Math.trunc(3 * dataGb) * 3} s`);
  if (dl < 100) caveats.push(`Nova's live_migration_downtime has a minimum of 100 ms; ${dl} ms cannot be set through Nova`);
  if (run.method === 'hybrid') caveats.push('Nova switches to post-copy only at force-complete (its completion timeout or the API), not after the first pass');
  const novaRun: Run = {
    method: 'nova', bandwidth: mib * MiB, downtimeLimitMs: 300,
    params: {
      'live-migration-downtime': `${Math.max(100, run.downtimeSteps?.length ? ctx.maxDowntimeMs : dl)}ms`, 'live-migration-downtime-steps': '3', 'live-migration-downtime-delay': '3',
      'live-migration-completion-timeout': String(Math.max(1, Math.ceil(ctx.deadlineMs / 1000 / dataGb))), 'live-migration-timeout-action': postcopy ? 'force_complete' : 'abort',
      'live-migration-permit-post-copy': String(postcopy), 'live-migration-permit-auto-converge': String(autoConverge),
    },
  };
  const kvParams: Record<string, string> = { 'completion-timeout-per-gib': String(perGiB), 'allow-auto-converge': String(autoConverge), 'allow-post-copy': String(postcopy) };
  if (run.method === 'hybrid') kvParams['allow-workload-disruption'] = 'true';
  if (run.downtimeSteps?.length) Object.assign(kvParams, { 'downtime-tuning': 'on', 'tuning-initial': `${dl}ms`, 'tuning-steps': String(run.downtimeSteps.length), 'max-downtime': `${ctx.maxDowntimeMs}ms` });
  if (run.method === 'kubevirt') Object.assign(kvParams, run.params);
  const kubevirtRun: Run = { method: 'kubevirt', bandwidth: mib * MiB, downtimeLimitMs: 300, params: kvParams };
  return { option, qmp, virsh, kubevirt: y.join('\n'), nova, caveats, orchestratorRuns: { nova: novaRun, kubevirt: kubevirtRun } };
}
