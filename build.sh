#!/usr/bin/env bash
# Builds libusb-wasm: the libusb 1.0.30 core (unpatched) plus our backend as
# an Emscripten SDK (build/sdk), upstream's examples and tests and our C
# tests against it (build/examples, build/tests, build/bench), and the JS
# runtime (dist/). Incremental: a rebuild with nothing changed does no work.
#
#   ./build.sh            everything
#   ./build.sh sdk        libusb SDK only
#   ./build.sh js         JS runtime only
#
# Needs emcc (Debian: apt-get install emscripten) and node_modules (npm ci);
# `make` installs both when missing.
set -euo pipefail
cd "$(dirname "$0")"

USB_PKG_VERSION=2.18.0                     # npm package that carries libusb
USB_PKG_SHA1=23174ae62480390cb13f01cb2b91e4258ca47940
LIBUSB_VERSION=1.0.30
SRC_DIR=wasm/libusb-src
CACHE_DIR=build/cache
what=${1:-all}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# Debian's emcc finds acorn only through NODE_PATH.
if [ -d /usr/share/nodejs ]; then export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"; fi

need_emcc() {
  command -v emcc >/dev/null || die "emcc not found. Install Emscripten (Debian: apt-get install -y emscripten) or run 'make', which does."
}

unpack_libusb() {
  local stamp=$SRC_DIR/.unpacked-$USB_PKG_VERSION
  [ -f "$stamp" ] && return 0
  mkdir -p "$CACHE_DIR"
  local tgz=$CACHE_DIR/usb-$USB_PKG_VERSION.tgz
  if [ ! -f "$tgz" ]; then
    say "fetching libusb $LIBUSB_VERSION (npm package usb@$USB_PKG_VERSION)"
    (cd "$CACHE_DIR" && npm pack "usb@$USB_PKG_VERSION" --silent >/dev/null) ||
      die "could not download usb@$USB_PKG_VERSION from the npm registry"
  fi
  local sum
  sum=$(sha1sum "$tgz" | cut -d' ' -f1)
  [ "$sum" = "$USB_PKG_SHA1" ] || die "$tgz has sha1 $sum, expected $USB_PKG_SHA1; delete it and retry"
  say "unpacking libusb into $SRC_DIR"
  rm -rf "$SRC_DIR" "$CACHE_DIR/unpack"
  mkdir -p "$CACHE_DIR/unpack"
  tar -xzf "$tgz" -C "$CACHE_DIR/unpack" package/libusb
  mv "$CACHE_DIR/unpack/package/libusb" "$SRC_DIR"
  local v
  v=$(awk '/#define LIBUSB_(MAJOR|MINOR|MICRO)/ {printf "%s%s", sep, $3; sep="."}' "$SRC_DIR/libusb/version.h")
  [ "$v" = "$LIBUSB_VERSION" ] || die "unpacked libusb is version $v, expected $LIBUSB_VERSION"
  touch "$stamp"
}

build_c() {
  need_emcc
  unpack_libusb
  say "building libusb $LIBUSB_VERSION for wasm ($1)"
  make -s --no-print-directory -f wasm/build.mk "$1"
}

build_js() {
  [ -d node_modules ] || die "node_modules missing: run 'npm ci' (or 'make', which does)"
  node scripts/bundle.mjs
}

case "$what" in
  sdk) build_c sdk ;;
  programs) build_c all ;;
  js) build_js ;;
  all) build_c all; build_js ;;
  *) die "unknown target '$what' (sdk, programs, js, all)" ;;
esac
