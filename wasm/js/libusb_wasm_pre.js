/*
 * Emscripten --pre-js linked into every libusb-wasm program (pkg-config
 * adds it). It runs first, before Emscripten's loader: a program started
 * with plain `node prog.js` has no transport host (its devices come from
 * the runner), so it says in one line how to run it and exits with 2,
 * instead of failing somewhere inside the loader (which in a "type":
 * "module" package, or under Emscripten 3.1.6 on Node 18+, prints the
 * whole minified file). The runner's workers install Module.libusbWasmHost
 * first and are never Node's main thread, so they pass.
 */
(function () {
  if (typeof process != 'object' || !process.versions || !process.versions.node) return;
  if (Module['libusbWasmHost']) return;
  // an ES module scope (no require) is never the runner's: it loads programs as scripts
  if (typeof require == 'function' && !require('worker_threads').isMainThread) return;
  var name = (process.argv[1] || 'prog.js').replace(/^.*[\\/]/, '');
  process.stderr.write('libusb-wasm: ' + name + ' is a libusb program for libusb-wasm: run it with `npx libusb-wasm run ' +
    name + '`, which gives it its devices\n');
  process.exit(2);
})();
