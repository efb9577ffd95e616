/**
 * hybrid: QEMU's pre-copy, then post-copy for what is left (Hines & Gopalan
 * 2009 discuss the combination; "Chen 2011" hybrid was not found — this is the
 * generic scheme, docs/methods.md; QEMU docs/devel/migration/
 * postcopy.rst: "postcopy can be combined with precopy").
 *
 *   run qemu-precopy until switch-after fires, then migrate-start-postcopy:
 *   stop, sync, device state, resume on the destination, push + faults
 *
 * switch-after: a time since `migrate` (`5s`), a number of dirty syncs
 * (`2syncs`), a byte budget (`512MiB`), or `first-pass` (default): once the
 * cursor has completed its first lap over guest memory — libvirt's
 * VIR_MIGRATE_POSTCOPY_AFTER_PRECOPY (guestperf's post-copy-iters = 1). If
 * pre-copy converges first, the migration completes as pre-copy.
 */
import type { Engine } from '../engine.js';
import { ParamError, type MethodSpec, type Params } from '../method.js';
import { parseDurationMs, parseSize } from '../units.js';
import { POSTCOPY_PARAMS, postcopyPhase } from './postcopy.js';
import { QEMU_PARAMS, qemuLoop } from './qemu-precopy.js';

/** A parsed switch-after rule: true when the switch is due. */
export function switchRule(text: string): (e: Engine) => boolean {
  if (text === 'first-pass') return (e) => e.laps >= 1;
  const syncs = /^(\d+)\s*syncs?$/.exec(text);
  if (syncs) return (e) => e.dirtySyncCount >= Number(syncs[1]);
  if (/^[0-9.]+\s*(ns|us|µs|ms|s|min|h)$/.test(text)) {
    const ms = parseDurationMs(text);
    return (e) => e.now >= ms * 1e6;
  }
  if (/^[0-9.]+\s*[kmgt]?i?b$/i.test(text)) {
    const bytes = parseSize(text);
    return (e) => e.transferred >= bytes;
  }
  throw new ParamError(`--param switch-after takes a time (5s), a number of syncs (2syncs), a byte budget (512MiB) or first-pass, not "${text}"`);
}

/** The hybrid method, as the comment at the top of this file describes it. */
export const hybrid: MethodSpec = {
  id: 'hybrid',
  summary: 'QEMU pre-copy for a while, then post-copy for the rest: most pages move before the switch, so fewer faults than pure post-copy and a bounded total time.',
  source: 'Hines & Gopalan 2009 (VEE); QEMU docs/devel/migration/postcopy.rst; libvirt VIR_MIGRATE_POSTCOPY_AFTER_PRECOPY; docs/methods.md',
  ships: 'qemu',
  params: [
    { name: 'switch-after', kind: 'text', default: 'first-pass', description: 'when to switch: a time (5s), a number of syncs (2syncs), a byte budget (512MiB) or first-pass' },
    ...POSTCOPY_PARAMS,
    ...QEMU_PARAMS,
  ],
  run(e, p: Params) {
    const due = switchRule(String(p['switch-after']));
    const r = qemuLoop(e, p, { startPostcopy: (eng) => due(eng) });
    if (!r.switched) return r;
    e.extra.switchedAtMs = e.now / 1e6;
    return postcopyPhase(e, p, r.state);
  },
};
