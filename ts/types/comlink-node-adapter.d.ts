// comlink ships types for its Node adapter as node-adapter.d.ts, which
// TypeScript does not pair with the .mjs file we import.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  /** Wraps a worker_threads MessagePort or Worker as a comlink endpoint. */
  export default function nodeEndpoint(nep: unknown): Endpoint;
}
