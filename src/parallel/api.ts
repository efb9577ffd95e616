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
}

/** Called as a queued run starts, with its key (the Node worker's crash hook for tests). */
export type RunStartHook = (key: number) => void;

/** Opens a streamed trace's file from its path and index (the Node worker's; browsers have none). */
export type FileOpener = (path: string, index: unknown) => FileBackedTrace;

/** The worker side: one kernel, the loaded traces, simulate(). */
export function workerApi(onStart?: RunStartHook, openFile?: FileOpener): WorkerApi {
  let kernel: Kernel | null = null;
  const traces = new Map<number, AnyTrace>();
  let queue: Promise<unknown> = Promise.resolve();
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
      const one = async (): Promise<JobReply> => {
        onStart?.(key);
        const trace = traces.get(id);
        if (!trace || !kernel) return { ok: false, error: { name: 'Error', message: `worker has no trace ${id} (or no kernel): init and load first` } };
        try {
          return { ok: true, result: await simulate(trace, { ...options, kernel }) };
        } catch (e) {
          return { ok: false, error: toJobError(e) };
        }
      };
      const reply = queue.then(one);
      queue = reply;
      return reply;
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
