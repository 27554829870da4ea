#!/bin/sh
# Compiles src/list-devices.c into public/ (list-devices.js, .wasm and, with
# Emscripten 3.1.6, .worker.js) against the libusb that libusb-wasm ships,
# with the flags from its pkg-config file. Vite serves public/ as it is and
# copies it into the production build.
set -eu
export PKG_CONFIG_PATH="$PWD/node_modules/libusb-wasm/dist/sdk/lib/pkgconfig"
# Debian's emcc finds its own modules (acorn) only through NODE_PATH
export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"
mkdir -p public
emcc -O2 $(pkg-config --cflags libusb-1.0) src/list-devices.c -o public/list-devices.js $(pkg-config --libs libusb-1.0)
echo "built public/list-devices.js"
