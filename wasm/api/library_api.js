/*
 * Emscripten JS library of the API shim (wasm/api/shim.c): its only call
 * out of wasm. The shim's main() hands the address of its shared block to
 * the JS API server, which the starter of the program installed as
 * Module.libusbWasmApi (ts/api/server.ts). The server lives on the main
 * runtime thread (the worker's own thread), so the call is proxied there.
 * Everything after it goes through shared memory (api_protocol.h).
 */
(typeof addToLibrary === 'function' ? addToLibrary : function (lib) { mergeInto(LibraryManager.library, lib); })({
  lwa_js_attach__deps: ['malloc', 'free'],
  lwa_js_attach__proxy: 'sync',
  lwa_js_attach__sig: 'ii',
  lwa_js_attach: function (block) {
    var server = Module['libusbWasmApi'];
    if (!server) {
      err('libusb-wasm: the API shim was started without an API server; it is started by createContext()');
      return 1;
    }
    try {
      server['attach'](wasmMemory, block, { malloc: _malloc, free: _free });
      return 0;
    } catch (e) {
      err('libusb-wasm: the API server failed to attach: ' + (e && e.stack || e));
      return 1;
    }
  },
});
