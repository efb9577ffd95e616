/**
 * A pool of simulation workers: comlink over Node worker_threads
 * (comlink's node adapter) or browser module Workers, one API for both. Each
 * worker loads its own kernel; a run() sends every trace once per worker as a
 * packed buffer moved with transfer, then lets the workers take the runs one
 * at a time, whichever is free, and returns the results in the order of the
 * jobs — so the output does not depend on the number of workers or on timing.
 * Where a SharedArrayBuffer can be shared (Node; cross-origin-isolated pages)
 * the workers claim runs from a shared counter and post their replies in
 * batches; elsewhere each run is handed out by message, two at a time, so the
 * next one waits in the worker's queue rather than for a round trip.
 *
 * Progress reaches the caller through messages (every reply, or every batch
 * of replies, on the main thread, where `onProgress` is called; no callback
 * proxies, which in Node would need a custom comlink transfer handler).
 *
 * A worker that stops (exits, throws outside a run, or fails to start) fails
 * the run() with a WorkerCrashError naming the run it had, and every worker is
 * terminated: never a hang. An error thrown by a run itself (a bad parameter,
 * a kernel out of memory) comes back as the same error class a run in this
 * thread would throw.
 */
import * as Comlink from 'comlink';
import type { SimResult } from '../sim/result.js';
import { calibrationNames, getCalibration, type Calibration } from '../sim/calibration.js';
import type { AnyTrace } from '../trace/source.js';
import { fromJobError, type JobOptions, type JobReply, type QueueMessage, type WorkerApi } from './api.js';
import { copyPacked, packTrace, transferables } from './transfer.js';

/** One simulation for the pool: trace `trace` (an index into run()'s traces) with these options. */
export interface PoolJob {
  /** The run's index in the caller's grid (reported to the worker, and in tests' crash hook). */
  key: number;
  trace: number;
  options: JobOptions;
  /** How the run is named in error messages ("trace hc, method precopy, …"). */
  label: string;
}

/** Options of createPool(). */
export interface PoolOptions {
  /** Workers to start (default: the core count). */
  workers?: number;
  /**
   * Browsers only: start one Worker. The default is
   * `new Worker(new URL('./worker.browser.js', import.meta.url), { type: 'module' })`;
   * give your own when a bundler needs the worker spelled in your code.
   */
  browserWorker?: () => Worker;
  /**
   * Hand out runs through a queue the workers share (a SharedArrayBuffer:
   * Node, and pages that are cross-origin isolated) rather than one message
   * per run. Default: wherever a SharedArrayBuffer can be shared; `false`
   * forces messages (tests of that path).
   */
  sharedQueue?: boolean;
}

/** A running pool. */
export interface Pool {
  /** Workers in the pool. */
  readonly size: number;
  /** Run the jobs over the traces; results in the order of `jobs`. */
  run(traces: AnyTrace[], jobs: PoolJob[], onProgress?: (done: number, total: number) => void): Promise<SimResult[]>;
  /** Release the proxies and terminate every worker (idempotent). */
  dispose(): Promise<void>;
}

/** A worker stopped: it exited, threw outside a run, or did not start. */
export class WorkerCrashError extends Error {
  constructor(
    /** The run it had, or null (starting up, loading traces). */
    readonly run: string | null,
    /** What happened ("exited with code 70"). */
    readonly reason: string,
    worker: string,
  ) {
    super(`${worker} ${reason} ${run ? `while running ${run}` : 'before its first run (starting up or loading the traces)'}; every worker was stopped`);
    this.name = 'WorkerCrashError';
  }
}

/** Why a slot's `gone` rejected. */
class Gone extends Error {
  constructor(readonly reason: string, readonly intended: boolean) {
    super(reason);
  }
}

interface Slot {
  name: string;
  api: Comlink.Remote<WorkerApi>;
  /** Rejects (with Gone) when the worker stops, for whatever reason. */
  gone: Promise<never>;
  stopped: boolean;
  terminate(): Promise<void>;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** A SharedArrayBuffer can be posted to a worker here (Node; a cross-origin-isolated page). */
const canShare = typeof SharedArrayBuffer !== 'undefined' && (isNode || (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true);

/** The core count of this machine (Node: os.availableParallelism; browsers: navigator.hardwareConcurrency). */
export async function coreCount(): Promise<number> {
  if (isNode) {
    const os = await nodeOnly<typeof import('node:os')>('node:os');
    return os.availableParallelism?.() ?? os.cpus().length;
  }
  return globalThis.navigator?.hardwareConcurrency || 2;
}

/** Start a pool: every worker started, its kernel loaded and the caller's host profiles known. */
export async function createPool(o: PoolOptions = {}): Promise<Pool> {
  const n = o.workers ?? (await coreCount());
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`a pool needs an integer number of workers ≥ 1, not ${n}`);
  const slots: Slot[] = [];
  let disposed = false;
  let nextTraceId = 1;

  const dispose = async () => {
    disposed = true;
    await Promise.all(slots.map(async (s) => {
      if (!s.stopped) {
        try { s.api[Comlink.releaseProxy](); } catch { /* a worker that just died */ }
      }
      await s.terminate();
    }));
  };

  const shared = (o.sharedQueue ?? true) && canShare;
  const calibrations = calibrationNames().map((c) => getCalibration(c)!) as Calibration[];
  try {
    for (let i = 0; i < n; i++) slots.push(await (isNode ? nodeSlot : browserSlot)(`worker ${i + 1} of ${n}`, o));
    await Promise.all(slots.map((s) => race(s, s.api.init(calibrations), null)));
  } catch (e) {
    await dispose();
    throw e;
  }

  return {
    size: n,
    dispose,
    async run(traces, jobs, onProgress) {
      if (disposed) throw new Error('this worker pool was disposed (or stopped after a worker crashed)');
      const packed = traces.map(packTrace);
      const ids = traces.map(() => nextTraceId++);
      const results: SimResult[] = new Array(jobs.length);
      let next = 0;
      let done = 0;
      let failure: Error | null = null;
      const fail = async (e: Error) => {
        if (failure) return;
        failure = e;
        if (e instanceof WorkerCrashError) await dispose(); // the others stop now; their loops see `gone`
      };

      // Each worker gets its own copy, moved; the last worker takes the originals. Copies are made
      // before any transfer: a moved buffer is detached on this side.
      const copies = slots.map((_, i) => (i === slots.length - 1 ? packed : packed.map(copyPacked)));
      const record = (i: number, reply: JobReply): boolean => {
        if (failure) return false;
        if (!reply.ok) { void fail(fromJobError(reply.error)); return false; }
        results[i] = reply.result;
        onProgress?.(++done, jobs.length);
        return true;
      };

      // The shared queue: control[0] is the next job to claim, control[1 + k] the job worker k has.
      const control = shared ? new Int32Array(new SharedArrayBuffer(4 * (1 + slots.length))).fill(-1, 1) : null;
      const queued = control ? jobs.map((j) => ({ id: ids[j.trace]!, options: j.options, key: j.key })) : [];
      const stopQueue = () => Atomics.store(control!, 0, jobs.length); // the workers take no more
      const fromQueue = async (s: Slot, lane: number) => {
        const { port1, port2 } = new MessageChannel();
        try {
          const finished = new Promise<void>((resolve) => {
            port1.addEventListener('message', (ev: MessageEvent<QueueMessage>) => {
              // A throw here (the caller's onProgress) would not reach run(): it fails the run instead.
              for (const [i, reply] of ev.data.replies) {
                try {
                  if (!record(i, reply)) stopQueue();
                } catch (e) {
                  stopQueue();
                  void fail(e instanceof Error ? e : new Error(String(e)));
                }
              }
              if (ev.data.done) resolve();
            });
            port1.addEventListener('messageerror', () => {
              stopQueue();
              void fail(new Error(`${s.name} sent results that could not be read`));
              resolve();
            });
            port1.start();
          });
          const label = () => { const i = Atomics.load(control!, 1 + lane); return i >= 0 ? jobs[i]!.label : null; };
          await race(s, Promise.all([s.api.runQueue(queued, control!.buffer as SharedArrayBuffer, lane, Comlink.transfer(port2, [port2])), finished]), label);
        } finally {
          port1.close();
        }
      };

      // By message: IN_FLIGHT lanes per worker, so that the worker queues the next run while one
      // runs and never waits for a round trip to this thread between runs.
      const byMessage = async (s: Slot) => {
        const inFlight: string[] = []; // labels of this worker's runs, oldest (the one running) first
        const lane = async () => {
          while (!failure && next < jobs.length) {
            const i = next++;
            const job = jobs[i]!;
            inFlight.push(job.label);
            let reply: JobReply;
            try {
              reply = await race<JobReply>(s, s.api.run(ids[job.trace]!, job.options, job.key) as Promise<JobReply>, () => inFlight[0]!);
            } finally {
              inFlight.splice(inFlight.indexOf(job.label), 1);
            }
            if (!record(i, reply)) return;
          }
        };
        await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
      };

      const work = async (s: Slot, lane: number, mine: typeof packed) => {
        try {
          for (let t = 0; t < mine.length; t++) {
            const p = mine[t]!;
            await race(s, s.api.load(ids[t]!, Comlink.transfer(p, transferables(p))), null);
          }
          await (control ? fromQueue(s, lane) : byMessage(s));
        } catch (e) {
          if (e instanceof Gone && e.intended) {
            // Stopped because another failed, or because the caller disposed of the pool mid-run.
            if (!failure) await fail(new Error('the worker pool was disposed while it ran'));
            return;
          }
          await fail(e instanceof Error ? e : new Error(String(e)));
        }
      };
      await Promise.all(slots.map((s, i) => work(s, i, copies[i]!)));
      if (!disposed) for (const s of slots) for (const id of ids) s.api.drop(id).catch(() => {});
      if (failure) throw failure;
      return results;
    },
  };
}

/** Runs handed to a worker at once (one running, the next queued there). */
const IN_FLIGHT = 2;

/** Await a call unless the worker stops first; then a WorkerCrashError naming `run` (the run under way then). */
async function race<T>(s: Slot, call: Promise<T>, run: string | null | (() => string | null)): Promise<T> {
  try {
    return await Promise.race([call, s.gone]);
  } catch (e) {
    if (e instanceof Gone && !e.intended) throw new WorkerCrashError(typeof run === 'function' ? run() : run, e.reason, s.name);
    throw e;
  }
}

/** A promise that rejects with Gone, and the one-shot function that rejects it. */
function goneSignal(): { gone: Promise<never>; stop: (reason: string, intended: boolean) => void; stopped: () => boolean } {
  let reject!: (e: Gone) => void;
  let stopped = false;
  const gone = new Promise<never>((_, r) => { reject = r; });
  gone.catch(() => {});
  return {
    gone,
    stop(reason, intended) {
      if (stopped) return;
      stopped = true;
      reject(new Gone(reason, intended));
    },
    stopped: () => stopped,
  };
}

/** The compiled Node worker: beside this file, or in dist/ when this runs from the TypeScript sources (tests). */
async function nodeWorkerUrl(): Promise<URL> {
  const { existsSync } = await nodeOnly<typeof import('node:fs')>('node:fs');
  const here = new URL('./worker.js', import.meta.url);
  if (existsSync(here)) return here;
  const built = new URL('../../dist/parallel/worker.js', import.meta.url);
  if (existsSync(built)) return built;
  throw new Error(`the pool's worker is not built (${here.pathname} and ${built.pathname} are missing): run npm run build`);
}

async function nodeSlot(name: string): Promise<Slot> {
  const { Worker } = await nodeOnly<typeof import('node:worker_threads')>('node:worker_threads');
  const { default: nodeEndpoint } = await nodeOnly<{ default: (w: unknown) => Comlink.Endpoint }>('comlink/dist/esm/node-adapter.mjs');
  const w = new Worker(await nodeWorkerUrl());
  const g = goneSignal();
  let terminating = false;
  w.on('error', (e: Error) => g.stop(`threw "${e.message}"`, terminating));
  w.on('exit', (code: number) => g.stop(terminating ? 'was terminated' : `exited with code ${code}`, terminating));
  const slot: Slot = {
    name,
    api: Comlink.wrap<WorkerApi>(nodeEndpoint(w)),
    gone: g.gone,
    get stopped() { return g.stopped(); },
    async terminate() {
      terminating = true;
      if (!g.stopped()) await w.terminate();
      g.stop('was terminated', true);
    },
  };
  return slot;
}

async function browserSlot(name: string, o: PoolOptions): Promise<Slot> {
  const w = o.browserWorker ? o.browserWorker() : new Worker(new URL('./worker.browser.js', import.meta.url), { type: 'module' });
  const g = goneSignal();
  // A browser Worker has no exit event: an error event (a failed load, an uncaught throw) counts as a crash.
  w.addEventListener('error', (ev: ErrorEvent) => {
    ev.preventDefault();
    w.terminate();
    g.stop(`threw "${ev.message || 'an error (did the worker script load?)'}"`, false);
  });
  w.addEventListener('messageerror', () => {
    w.terminate();
    g.stop('sent a message that could not be read', false);
  });
  return {
    name,
    api: Comlink.wrap<WorkerApi>(w),
    gone: g.gone,
    get stopped() { return g.stopped(); },
    async terminate() {
      w.terminate();
      g.stop('was terminated', true);
    },
  };
}

/**
 * A module only Node loads (the pool's Node side): the specifier is not a
 * literal, so browser bundlers (esbuild, Vite) leave it alone and the
 * browser entry reaches no node: module.
 */
async function nodeOnly<T>(spec: string): Promise<T> {
  const id = spec;
  return (await import(/* @vite-ignore */ /* webpackIgnore: true */ id)) as T;
}
