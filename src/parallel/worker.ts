/**
 * The pool's Node entry: a worker_threads worker that exposes workerApi()
 * over its parentPort with comlink's node adapter.
 *
 * DIRTYLAB_TEST_WORKER_EXIT=K (tests only) makes the worker exit with code 70
 * when the run whose `key` is K starts — a crash the pool must report,
 * naming that run, without hanging.
 */
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { DptFile, type DptIndex } from '../trace/dpt-file.js';
import { workerApi, type WorkerApi } from './api.js';

if (!parentPort) throw new Error('dirtylab/parallel/worker.js runs as a worker thread (the pool starts it)');

const exitAt = process.env.DIRTYLAB_TEST_WORKER_EXIT;
const api: WorkerApi = workerApi(exitAt === undefined ? undefined : (key) => {
  if (String(key) === exitAt) process.exit(70);
}, (path, index) => DptFile.fromIndex(path, index as DptIndex));
Comlink.expose(api, nodeEndpoint(parentPort));
