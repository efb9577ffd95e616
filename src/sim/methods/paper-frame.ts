/**
 * The common frame of the research methods (docs/methods.md): Xen-style
 * rounds over the pending set, ascending, no skip; a policy holds pages back;
 * legacy Xen's stop rule (29 rounds, < 50 pages sent + held, 3 × RAM), then
 * stop-and-copy of everything pending. Held pages stay pending, so they are in
 * the final copy and count toward the downtime.
 *
 * The papers behind these methods (improved-precopy, delayed-copy, prediction,
 * double-iteration/two-round-hot) build on Xen's pre-copy, so the frame uses
 * legacy Xen's stream (xc_domain_save.c, see precopy.ts): every page, zero or
 * not, is sent as page data (8-byte pfn_type + 4096 B), in batches of up to
 * 1024 pages with a 4-byte count each; the final copy too is such a round.
 *
 *   pending = ALL; n = 0
 *   loop:
 *     n++; S = pending; policy.select(n, S)        (clears the pages to hold)
 *     pending = pending ∖ S; send S in batches     (held = |pending|)
 *     policy.afterRound(n, S, D_n)                 (D_n: the log, written during round n)
 *     if legacy stop rule(n, |S|, held): pause; pending |= log; send pending; done
 *     pending |= log; log = ∅
 */
import type { Bitmap, Kernel } from '../../kernel/index.js';
import type { Engine } from '../engine.js';
import type { Params, RunEnd } from '../method.js';
import { sendBatches, xenLegacyStop, xenStream } from './precopy.js';

/**
 * What a research method decides. Write it as a class (an instance per run)
 * that keeps its own state, not as closures made anew in every run: V8
 * (Node 20) compiled each run's new closures again and again (a method's
 * afterRound 4–8 times per 1,152-run comparison in every thread, 10–20 ms of
 * optimizing compiler each time, which a pool's workers pay on the cores they
 * compute on), while a class's methods are one function each, compiled once.
 * (Closures that read `e.k` / `e.extra` through the engine also fell into a
 * deopt loop: ~1,900 deopts per comparison; bench/parallel.)
 */
export interface PaperPolicy {
  /** Round n: clear from `send` (initially every pending page) the pages to hold back. */
  select(n: number, send: Bitmap): void;
  /** After round n: `sent` were sent in it, `dn` (D_n) are the pages written during it. */
  afterRound?(n: number, sent: Bitmap, dn: Bitmap): void;
  /** Free what the policy holds in the kernel; the frame calls it when the run ends, however it ends. */
  dispose?(): void;
}

/**
 * A policy that holds back the pages of one bitmap, `held`: select() leaves
 * them pending (S = pending ∖ held), dispose() frees the bitmap.
 */
export abstract class HoldingPolicy implements PaperPolicy {
  /** The pages held back. */
  protected readonly held: Bitmap;

  constructor(protected readonly kernel: Kernel, protected readonly extra: Engine['extra'], nPages: number) {
    this.held = kernel.bitmap(nPages);
  }

  select(_n: number, send: Bitmap): void {
    this.kernel.andNot(send, send, this.held);
  }

  dispose(): void {
    this.kernel.dispose(this.held);
  }
}

/** Run the frame with a policy (disposed at the end). */
export function paperFrame(e: Engine, p: Params, policy: PaperPolicy): RunEnd {
  try {
    return rounds(e, p, policy);
  } finally {
    policy.dispose?.();
  }
}

/** The frame's rounds (the pseudo-code at the top of this file). */
function rounds(e: Engine, p: Params, policy: PaperPolicy): RunEnd {
  const k = e.k;
  const send = k.bitmap(e.nPages);
  const sent = k.bitmap(e.nPages);
  try {
    const stream = xenStream(e, 'legacy');
    e.setup();
    e.markAll();
    e.startRound();
    let n = 0;
    let totalSent = 0;
    let heldMax = 0;
    while (true) {
      n++;
      k.copy(send, e.mig);
      policy.select(n, send);
      const held = e.migCount - k.popcount(send);
      heldMax = Math.max(heldMax, held);
      k.andNot(e.mig, e.mig, send);
      e.migCount = held;
      k.copy(sent, send);
      const s = sendBatches(e, send, stream, e.cfg.bandwidth);
      totalSent += s;
      const abort = e.abortReason;
      if (abort) return { completed: false, converged: false, stopReason: abort };
      policy.afterRound?.(n, sent, e.log);
      const stop = xenLegacyStop(n, s, held, totalSent, e, p);
      if (stop) {
        e.stopGuest();
        e.sync();
        sendBatches(e, e.mig, stream, e.cfg.linkBandwidth);
        e.extra.liveRounds = n;
        e.extra.maxHeldPages = heldMax;
        return { completed: true, converged: stop === 'converged', stopReason: stop };
      }
      e.sync();
    }
  } finally {
    k.dispose(send);
    k.dispose(sent);
  }
}
