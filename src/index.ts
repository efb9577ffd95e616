/**
 * dirtylab for Node: everything of the browser entry plus file access.
 */
export * from './browser.js';
export { fileInput, dirInput, writeTraceFile, outputKind } from './trace/node.js';
// Node's bundledTrace reads data/ from disk (it shadows the browser entry's fetch-based one).
export { bundledTrace, bundledTracePath } from './trace/bundled-node.js';
export { reportFiles, renderTerminal, writeFilesAtomic } from './report/report.js';
export { toSvg, toPng } from './report/render.js';
export { runsCsv, runsArrow, summaryCsv, summaryArrow, RUN_COLUMNS, SUMMARY_COLUMNS, snakeCase } from './report/tables.js';
export { readRun } from './validate/run.js';
export { recordTrace, recorderUnavailable, recorderPaths, type RecordOptions, type RecordResult, type RecordTarget } from './trace/record/native.js';
export { validateRun, summarize as summarizeValidation } from './validate/validate.js';
import './sim/profiles.js';
