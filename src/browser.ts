/**
 * dirtylab for browsers (and any JS runtime): the kernel, the trace model,
 * readers and writers over byte streams, generators and derived views. No
 * Node API is imported from here.
 */
// The host profiles (qemu-7.2-tcg, …): a bundled trace names the host it was
// recorded on, and simulate/compare use that profile by default, as in Node.
import './sim/profiles.js';
export { Kernel, KernelMemoryError, compileKernel, setKernelSource, defaultKernelUrl, type KernelSource, type Bitmap, type U32Buffer } from './kernel/index.js';
export * as reference from './kernel/reference.js';
export * from './trace/model.js';
export { bytesInput, blobInput, urlInput, type TraceInput } from './trace/bytes.js';
export { bundledTrace, bundledTraceUrl, BUNDLED_TRACES, type BundledTraceName } from './trace/bundled.js';
export { openTrace, readTrace, TRACE_FORMATS, type OpenedTrace, type OpenOptions } from './trace/open.js';
export { DptWriter, encodeDptHeader, encodeEpoch, type ByteSink } from './trace/dpt.js';
export { jsonlHeaderLine, jsonlEpochLine } from './trace/jsonl.js';
export { generatedHeader, generateEpochs, GENERATOR_KINDS, type GenerateOptions, type GeneratorKind } from './trace/generate.js';
export { summarizeTrace, mappingHeat, DEFAULT_WT_WINDOWS_MS, type TraceSummary, type WtPoint, type MappingHeat } from './trace/views.js';
export { denseIndexOf, isAddressMap, type AddressMap, type AddressBlock, type MappingKind } from './trace/record/address-map.js';
export { IMPORTERS, getImporter, type DirInput, type ImportContext, type ImportOption, type ImportResult, type ImporterSpec } from './trace/import/index.js';
export { fitTrace, curveFromShape, parseCurveText, FIT_TOLERANCE, type CurvePoint, type FitOptions, type FitResult, type Shape } from './trace/fit.js';
export { instructionsToNs, DEFAULT_INSTRUCTIONS_PER_SECOND } from './trace/timebase.js';
export { mulberry32 } from './trace/random.js';
export { simulate, resolveMethod, DEFAULT_BANDWIDTH, DEFAULT_DOWNTIME_LIMIT_MS, DEFAULT_MAX_TIME_MS, type SimulateOptions } from './sim/simulate.js';
export { METHODS, getMethod, methodIds } from './sim/methods/index.js';
export { novaDataGb, novaDowntimeSteps } from './sim/methods/nova.js';
export { kubevirtDataSize, kubevirtRamp } from './sim/methods/kubevirt.js';
export { advise, rampSteps, SEARCH_RESOLUTION, CONVERGE_SHARE, DEFAULT_OFFSETS, VALIDATION, type AdviseOptions, type AdviseResult, type AdviseOption, type Evaluation, type RunSpec } from './advise/advise.js';
export { renderSettings, type Settings, type QmpCommand } from './advise/settings.js';
export type { SimResult, RoundRecord, StopReason } from './sim/result.js';
export type { MethodSpec, ParamSpec, Params } from './sim/method.js';
export { ParamError } from './sim/method.js';
export { Engine, type EngineConfig, type EngineHooks } from './sim/engine.js';
export { registerCalibration, getCalibration, calibrationNames, IDEAL, type Calibration } from './sim/calibration.js';
export { parseBandwidth, parseDurationMs, parseSize } from './sim/units.js';
export { createPool, simulateAll, coreCount, WorkerCrashError, type Pool, type PoolJob, type PoolOptions, type JobOptions, type SimulateAllOptions } from './parallel/index.js';
export { compare, compareSpec, startOffsets, runLabel, type CompareOptions, type CompareRuns, type CompareSpec, type CompareTrace, type RunRow } from './stats/compare.js';
export { summarize, METRICS, type CompareSummary, type Cell, type Comparison } from './stats/summary.js';
export { bootstrapCI, medianOf } from './stats/bootstrap.js';
export { holm } from './stats/holm.js';
export { signedRankP } from './stats/wilcoxon.js';
export { summaryCsv, runsCsv } from './report/csv.js';
export { wtChart, type WtChartPoint } from './report/charts/wt.js';
export { roundsChart, type RoundPoint } from './report/charts/rounds.js';
export { distributionChart, type DistPoint, type DistCI } from './report/charts/distributions.js';
export { fmtBw } from './stats/summary.js';
export { defaultCalibrationName } from './sim/simulate.js';
