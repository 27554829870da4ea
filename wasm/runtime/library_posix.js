/*
 * Emscripten JS library: the JS half of the POSIX runtime (wasm/runtime/),
 * linked into every program by pkg-config (installed as
 * library_libusb_wasm_posix.js). Its functions run on the main runtime
 * thread, where the runner's side of the runtime lives
 * (Module.libusbWasmPosix, ts/runner/common/posix/): they pass the C side's
 * calls and entry points on to it, with the program's memory, and hook
 * Emscripten's file system so that the C side knows which fd is stdin,
 * stdout, stderr or a socket (lw_fd_set_kind).
 * A program started without the runner gets ENOSYS from sockets and
 * Emscripten's own standard streams.
 */
(typeof addToLibrary === 'function' ? addToLibrary : function (lib) { mergeInto(LibraryManager.library, lib); })({
  $libusbWasmPosixFs__deps: ['$FS'],
  $libusbWasmPosixFs: {
    /* the nodes behind fds 0, 1 and 2 when main() starts: a dup of one,
       or opening it again, is that standard stream too */
    standardNodes: [],

    kindOf: function (stream) {
      var node = stream.node;
      if (node && node.libusbWasmSocket) return 4;            /* LW_FD_SOCKET */
      var i = libusbWasmPosixFs.standardNodes.indexOf(node);
      return i < 0 ? 0 : i + 1;                               /* LW_FD_STDIN.. or LW_FD_OTHER */
    },

    report: function (runtime, stream) {
      var node = stream.node;
      runtime['setFdKind'](stream.fd, libusbWasmPosixFs.kindOf(stream), node && node.libusbWasmSocket || 0);
    },

    start: function (runtime) {
      var fs = libusbWasmPosixFs;
      for (var fd = 0; fd < 3; fd++) fs.standardNodes[fd] = FS.streams[fd] ? FS.streams[fd].node : null;
      var createStream = FS.createStream;
      FS.createStream = function () {
        var stream = createStream.apply(FS, arguments);
        var node = stream.node;
        if (stream.fd < 3 && node && !fs.standardNodes[stream.fd]) fs.standardNodes[stream.fd] = node;
        if (node && node.libusbWasmSocket) node.libusbWasmFds = (node.libusbWasmFds || 0) + 1;
        fs.report(runtime, stream);
        return stream;
      };
      var closeStream = FS.closeStream;
      FS.closeStream = function (fd) {
        var stream = FS.streams[fd];
        closeStream.apply(FS, arguments);
        if (!stream) return;
        runtime['setFdKind'](fd, 0, 0);
        var node = stream.node;
        if (node && node.libusbWasmSocket && --node.libusbWasmFds === 0) runtime['socketClosed'](node.libusbWasmSocket);
      };
      FS.streams.forEach(function (stream) { if (stream) fs.report(runtime, stream); });
      runtime['start']({
        'memory': wasmMemory,
        /* an fd for a new socket (the C side's struct at `socket`) */
        'openSocket': function (socket) {
          var node = FS.createNode(null, 'socket', 49152 /* S_IFSOCK */ | 511, 0);
          node.libusbWasmSocket = socket;
          node.node_ops = {
            getattr: function () {
              var now = new Date();
              return { dev: 0, ino: node.id, mode: node.mode, nlink: 1, uid: 0, gid: 0, rdev: 0, size: 0,
                       atime: now, mtime: now, ctime: now, blksize: 4096, blocks: 0 };
            },
          };
          return FS.createStream({ node: node, flags: 2 /* O_RDWR */, seekable: false, position: 0, stream_ops: {} }).fd;
        },
        /* the name behind an address Emscripten's getaddrinfo() made up
           for a host name (it answers 172.29.x.x and keeps the name) */
        'hostName': function (address) {
          return typeof DNS != 'undefined' && DNS.lookup_addr(address) || address;
        },
      });
    },
  },

  lw_js_posix_start__deps: ['$libusbWasmPosixFs'],
  lw_js_posix_start__proxy: 'sync',
  lw_js_posix_start__sig: 'v',
  lw_js_posix_start: function () {
    var runtime = Module['libusbWasmPosix'];
    if (runtime && !libusbWasmPosixFs.started) {
      libusbWasmPosixFs.started = true;
      libusbWasmPosixFs.start(runtime);
    }
  },

  /* A C function the runner's side calls (enum lw_entry), handed over from
     a constructor: a function pointer, so no export name is needed. */
  lw_js_posix_register__proxy: 'sync',
  lw_js_posix_register__sig: 'vii',
  lw_js_posix_register: function (entry, pointer) {
    var runtime = Module['libusbWasmPosix'];
    if (runtime) runtime['register'](entry, wasmTable.get(pointer));
  },

  lw_js_posix_call__proxy: 'sync',
  lw_js_posix_call__sig: 'iiiiii',
  lw_js_posix_call: function (op, a, b, c, d) {
    var runtime = Module['libusbWasmPosix'];
    return runtime ? runtime['call'](op, a, b, c, d) | 0 : -52; /* ENOSYS */
  },

  lw_js_posix_notify__proxy: 'async',
  lw_js_posix_notify__sig: 'vii',
  lw_js_posix_notify: function (what, arg) {
    var runtime = Module['libusbWasmPosix'];
    if (runtime) runtime['notify'](what, arg);
  },

  /* A signal handler, called through JS as Emscripten's raise() calls one:
     a handler declared with fewer parameters still runs. */
  lw_js_call_handler__sig: 'viiii',
  lw_js_call_handler: function (handler, sig, info, context) {
    wasmTable.get(handler)(sig, info, context);
  },
});
