// comlink ships its node adapter's ESM build without a .d.mts: borrow the UMD
// build's declaration (the same function).
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import nodeEndpoint from 'comlink/dist/umd/node-adapter';
  export default nodeEndpoint;
}
