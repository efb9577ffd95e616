/**
 * Many simulations, in this thread or over a worker pool — one call for
 * compare() and `grid`. The results are in the order of the jobs either way,
 * and equal byte for byte: a run depends only on its trace and options.
 */
import { Kernel } from '../kernel/index.js';
import type { SimResult } from '../sim/result.js';
import { simulate } from '../sim/simulate.js';
import type { AnyTrace } from '../trace/source.js';
import { createPool, type Pool, type PoolJob } from './pool.js';

export { createPool, coreCount, WorkerCrashError, type Pool, type PoolJob, type PoolOptions } from './pool.js';
export type { JobOptions } from './api.js';

/** Where simulateAll() runs the jobs. */
export interface SimulateAllOptions {
  /** Worker threads to spread the runs over; absent, 0 or 1: in this thread, one after another. */
  workers?: number;
  /** Or an existing pool (kept open afterwards); wins over `workers`. */
  pool?: Pool;
  /** The kernel for runs in this thread (default: a new one). */
  kernel?: Kernel;
  onProgress?: (done: number, total: number) => void;
}

/** Run every job; results in the order of `jobs`. */
export async function simulateAll(traces: AnyTrace[], jobs: PoolJob[], o: SimulateAllOptions = {}): Promise<SimResult[]> {
  if (o.pool) return o.pool.run(traces, jobs, o.onProgress);
  const workers = Math.min(o.workers ?? 1, jobs.length);
  if (workers > 1) {
    const pool = await createPool({ workers });
    try {
      return await pool.run(traces, jobs, o.onProgress);
    } finally {
      await pool.dispose();
    }
  }
  const kernel = o.kernel ?? (await Kernel.load());
  const out: SimResult[] = [];
  for (const job of jobs) {
    out.push(await simulate(traces[job.trace]!, { ...job.options, kernel }));
    o.onProgress?.(out.length, jobs.length);
  }
  return out;
}
