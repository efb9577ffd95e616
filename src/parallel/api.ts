/**
 * What a pool worker offers (the same object in a Node worker thread and in a
 * browser Worker; comlink carries the calls). Each worker loads its own
 * kernel, holds the traces it was sent (rebuilt from their packed buffers) and
 * runs one simulation per call. Errors come back as values, not throws, so the
 * pool can rebuild the error class the caller expects (ParamError: exit 1,
 * KernelMemoryError: exit 3) instead of comlink's plain Error.
 */
import { Kernel } from '../kernel/index.js';
import { KernelMemoryError } from '../kernel/index.js';
import { registerCalibration, type Calibration } from '../sim/calibration.js';
import '../sim/profiles.js';
import { ParamError } from '../sim/method.js';
import type { SimResult } from '../sim/result.js';
import { simulate, type SimulateOptions } from '../sim/simulate.js';
import { isFileBacked, type AnyTrace, type FileBackedTrace } from '../trace/source.js';
import { unpackTrace, type PackedTrace } from './transfer.js';

/** The options of one run as they cross to a worker: plain data only. */
export type JobOptions = Omit<SimulateOptions, 'kernel' | 'hooks'>;

/** An error thrown by a run, as data. */
export interface JobError {
  name: string;
  message: string;
  /** KernelMemoryError's request, bytes. */
  requestedBytes?: number;
}

/** A run's reply: its result, or the error it threw. */
export type JobReply = { ok: true; result: SimResult } | { ok: false; error: JobError };

/** The calls a pool worker answers. */
export interface WorkerApi {
  /** Load the kernel and learn the caller's host profiles (built-in and registered ones). */
  init(calibrations: Calibration[]): Promise<void>;
  /** Keep a trace under `id` (its buffer was moved here; a streamed .dpt is opened here). */
  load(id: number, packed: PackedTrace): void;
  /** Forget a trace. */
  drop(id: number): void;
  /**
   * One simulation of trace `id`; `key` names the run (the grid index) for the
   * caller. Runs are queued: a call made while another run is under way starts
   * when it ends, so the caller may keep the next run waiting here.
   */
  run(id: number, options: JobOptions, key: number): Promise<JobReply>;
  /**
   * The runs of one pool run() from a queue shared by every worker — where a
   * SharedArrayBuffer is available (Node; cross-origin-isolated pages): claim
   * the next job (Atomics.add on `control[0]`) until none is left, keeping the
   * index of the one under way in `control[1 + lane]` so the caller can name
   * it if this worker dies; post the replies on `replies` a few at a time
   * (QueueMessage), then `{ done: true }`. A failed run stops the queue for
   * every worker. The caller's thread is woken once per batch instead of once
   * per run: on a machine with as many workers as cores, every wake-up takes
   * a core from a worker.
   */
  runQueue(jobs: QueuedJob[], control: SharedArrayBuffer, lane: number, replies: ReplyPort): Promise<void>;
}

/** One job of a runQueue(): trace `id`, its options, its key. */
export interface QueuedJob {
  id: number;
  options: JobOptions;
  key: number;
}

/** What runQueue() posts: replies as [job index, reply] pairs; `done` on the last message. */
export interface QueueMessage {
  replies: [number, JobReply][];
  done?: true;
}

/** The port runQueue() posts on (a MessagePort, of worker_threads or of the DOM). */
export interface ReplyPort {
  postMessage(message: QueueMessage): void;
}

/** A worker posts its replies when it has this many… */
const BATCH_RUNS = 16;
/** …or when this long has passed since its last post, ms (a progress bar still moves). */
const BATCH_MS = 100;

/** Called as a queued run starts, with its key (the Node worker's crash hook for tests). */
export type RunStartHook = (key: number) => void;

/** Opens a streamed trace's file from its path and index (the Node worker's; browsers have none). */
export type FileOpener = (path: string, index: unknown) => FileBackedTrace;

/** The worker side: one kernel, the loaded traces, simulate(). */
export function workerApi(onStart?: RunStartHook, openFile?: FileOpener): WorkerApi {
  let kernel: Kernel | null = null;
  const traces = new Map<number, AnyTrace>();
  let queue: Promise<unknown> = Promise.resolve();
  const one = async (id: number, options: JobOptions, key: number): Promise<JobReply> => {
    onStart?.(key);
    const trace = traces.get(id);
    if (!trace || !kernel) return { ok: false, error: { name: 'Error', message: `worker has no trace ${id} (or no kernel): init and load first` } };
    try {
      return { ok: true, result: await simulate(trace, { ...options, kernel }) };
    } catch (e) {
      return { ok: false, error: toJobError(e) };
    }
  };
  return {
    async init(calibrations) {
      for (const c of calibrations) registerCalibration(c);
      kernel ??= await Kernel.load();
    },
    load(id, packed) {
      if (packed.kind === 'file') {
        if (!openFile) throw new Error(`${packed.path} is streamed from disk, which only a Node worker can do`);
        traces.set(id, openFile(packed.path, packed.index));
      } else traces.set(id, unpackTrace(packed));
    },
    drop(id) {
      const t = traces.get(id);
      if (t && isFileBacked(t)) t.close();
      traces.delete(id);
    },
    run(id, options, key) {
      const reply = queue.then(() => one(id, options, key));
      queue = reply;
      return reply;
    },
    async runQueue(jobs, control, lane, replies) {
      const ctl = new Int32Array(control);
      let batch: [number, JobReply][] = [];
      let posted = performance.now();
      for (;;) {
        const i = Atomics.add(ctl, 0, 1);
        if (i >= jobs.length) break;
        Atomics.store(ctl, 1 + lane, i);
        const job = jobs[i]!;
        const reply = await one(job.id, job.options, job.key);
        batch.push([i, reply]);
        if (!reply.ok) {
          Atomics.store(ctl, 0, jobs.length); // the others take no more
          break;
        }
        if (batch.length >= BATCH_RUNS || performance.now() - posted >= BATCH_MS) {
          replies.postMessage({ replies: batch });
          batch = [];
          posted = performance.now();
        }
      }
      replies.postMessage({ replies: batch, done: true });
    },
  };
}

function toJobError(e: unknown): JobError {
  if (e instanceof KernelMemoryError) return { name: 'KernelMemoryError', message: e.message, requestedBytes: e.requestedBytes };
  if (e instanceof ParamError) return { name: 'ParamError', message: e.message };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

/** The error a reply carries, as the class a caller in this thread would have seen. */
export function fromJobError(e: JobError): Error {
  if (e.name === 'ParamError') return new ParamError(e.message);
  if (e.name === 'KernelMemoryError' && e.requestedBytes !== undefined) return new KernelMemoryError(e.requestedBytes);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}
