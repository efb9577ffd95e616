/**
 * The pool's browser entry: a module Worker that exposes workerApi() with
 * comlink (a Worker is a comlink endpoint as it is).
 */
import * as Comlink from 'comlink';
import { workerApi } from './api.js';

Comlink.expose(workerApi());
