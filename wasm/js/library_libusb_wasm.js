/*
 * Emscripten JS library linked into every libusb-wasm program
 * (--js-library, added by pkg-config).
 *
 * lw_js_host_attach is the program's only call out of wasm: on the first
 * libusb_init the backend hands its memory and the address of its shared
 * block to the transport host. Everything after that goes through shared
 * memory (wasm/backend/protocol.h). The runner installs the program's end of
 * its link to the host as Module.libusbWasmHost before the program starts
 * (ts/runner/common/host-service.ts, hostConnection); it lives on the main runtime
 * thread, so the call is proxied there. It posts the memory to the host's
 * worker and returns at once; the C side then waits until the host marks
 * the block attached (wasm/backend/host_channel.c).
 *
 * libusbWasmPreRun applies what the runner asked for before main(): the
 * environment (Module.libusbWasmEnv), in Node the host's file system
 * mounted at the same paths (Module.libusbWasmMountHostFs), files written
 * into MEMFS (Module.libusbWasmFiles: path -> bytes; browsers use it for
 * firmware images and the like) and the working directory.
 *
 * libusbWasmRecordLink runs as the program's JS loads: it records how the
 * program was linked (Module.libusbWasmLinked), so that the runner can
 * explain a link without the SDK's flags (ts/runner/common/program.ts).
 * A program started without the runner is caught earlier still, by
 * libusb_wasm_pre.js (--pre-js, also from pkg-config).
 */
(typeof addToLibrary === 'function' ? addToLibrary : function (lib) { mergeInto(LibraryManager.library, lib); })({
  $libusbWasmPreRun__deps: ['$ENV', '$FS', '$NODEFS'],
  $libusbWasmPreRun: function () {
    var env = Module['libusbWasmEnv'];
    if (env) for (var k in env) ENV[k] = env[k];
    if (ENVIRONMENT_IS_NODE && Module['libusbWasmMountHostFs']) {
      var nodeFs = require('fs');
      nodeFs.readdirSync('/').forEach(function (name) {
        var path = '/' + name;
        if (name === 'dev' || name === 'proc' || name === 'sys') return;
        try {
          if (!nodeFs.statSync(path).isDirectory()) return;
        } catch (e) {
          return;
        }
        try { FS.mkdir(path); } catch (e) { /* exists in MEMFS already (/tmp, /home) */ }
        try { FS.mount(NODEFS, { root: path }, path); } catch (e) { /* unreadable: skip */ }
      });
      if (Module['libusbWasmCwd']) {
        try { FS.chdir(Module['libusbWasmCwd']); } catch (e) { /* stay at / */ }
      }
    }
    var files = Module['libusbWasmFiles'];
    if (files) {
      for (var name in files) {
        var dir = name.substring(0, name.lastIndexOf('/'));
        if (dir) FS.mkdirTree(dir);
        FS.writeFile(name, files[name]);
      }
    }
    if (!Module['libusbWasmMountHostFs'] && Module['libusbWasmCwd']) {
      try { FS.mkdirTree(Module['libusbWasmCwd']); FS.chdir(Module['libusbWasmCwd']); } catch (e) { /* stay at / */ }
    }
    Module['libusbWasmFS'] = FS;
  },

  // How the program was linked: the runner explains a link without the SDK's flags (ts/runner/common/program.ts).
  $libusbWasmRecordLink: function () {
    Module['libusbWasmLinked'] = { proxyToPthread: {{{ PROXY_TO_PTHREAD }}}, exitRuntime: {{{ EXIT_RUNTIME }}} };
  },

  lw_js_host_attach__deps: ['$libusbWasmPreRun', '$libusbWasmRecordLink'],
  lw_js_host_attach__postset: 'libusbWasmRecordLink(); addOnPreRun(libusbWasmPreRun);',
  lw_js_host_attach__proxy: 'sync',
  lw_js_host_attach__sig: 'ii',
  lw_js_host_attach: function (shared) {
    var host = Module['libusbWasmHost'];
    if (!host) {
      err('libusb-wasm: this program has no transport host. Start it with the libusb-wasm runner ' +
          '(npx libusb-wasm run prog.js, or runProgram() from JS).');
      return -12; /* LIBUSB_ERROR_NOT_SUPPORTED */
    }
    try {
      return host['attach'](wasmMemory, shared) | 0;
    } catch (e) {
      err('libusb-wasm: the transport host failed to attach: ' + (e && e.stack || e));
      return -99; /* LIBUSB_ERROR_OTHER */
    }
  },
});
