/**
 * The API server's way into the program's worker: the runner loads this
 * module there (a worker plugin) when the program is the API shim, and
 * `install` exposes a fresh {@link ApiServer} on the caller's port and hands
 * it to the shim (wasm/api/library_api.js looks for Module.libusbWasmApi).
 * Node loads it as an ES module (dist/api-plugin.js); browsers with
 * importScripts, from a classic script that sets `self.libusbWasmPlugin`
 * (dist/browser-api-plugin.js).
 * @module
 * @internal
 */
import * as Comlink from 'comlink';
import { ApiServer } from './server.js';

/** Called by the program's worker before the program starts. */
export function install(Module: Record<string, unknown>, endpoint: Comlink.Endpoint): void {
  const server = new ApiServer();
  Comlink.expose(server, endpoint);
  Module.libusbWasmApi = server;
}
