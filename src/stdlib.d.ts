// @stdlib/stats-wilcoxon ships CommonJS with its own types under docs/; this
// declares the default export as used here.
declare module '@stdlib/stats-wilcoxon' {
  interface Results { pValue: number; statistic: number; method: string }
  function wilcoxon(x: number[] | Float64Array, y?: number[] | Float64Array | Record<string, unknown>, opts?: Record<string, unknown>): Results;
  export default wilcoxon;
}
