#!/usr/bin/env bash
# Builds two small projects that use libusb through pkg-config, each with its
# own build system and no flag beyond PKG_CONFIG_PATH: test/projects/autotools
# (emconfigure ./configure && emmake make) and test/projects/cmake (emcmake
# cmake && cmake --build). Both compile libusb's examples/listdevs.c.
#
#   scripts/third-party/projects.sh   -> build/third-party/projects/{autotools,cmake}/listdevs
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
OUT=$ROOT/build/third-party/projects
LISTDEVS=$ROOT/wasm/libusb-src/examples/listdevs.c
inputs=("${SDK_FILES[@]}" "$0" "$(dirname "$0")/common.sh" test/projects/autotools/* test/projects/cmake/* "$LISTDEVS")
newer_than "$OUT/.built" "${inputs[@]}" && exit 0
need_tools pkg-config:pkg-config autoreconf:autoconf automake:automake cmake:cmake

say "an autotools project: emconfigure ./configure && emmake make"
rm -rf "$OUT/autotools" && mkdir -p "$OUT/autotools"
cp test/projects/autotools/* "$LISTDEVS" "$OUT/autotools/"
(
  cd "$OUT/autotools"
  autoreconf -i >autoreconf.log 2>&1 || { cat autoreconf.log; exit 1; }
  emconfigure ./configure >configure.log 2>&1 || { tail -30 configure.log; exit 1; }
  emmake make >make.log 2>&1 || { tail -30 make.log; exit 1; }
)

say "a CMake project: emcmake cmake && cmake --build"
rm -rf "$OUT/cmake" && mkdir -p "$OUT/cmake/src"
cp test/projects/cmake/* "$LISTDEVS" "$OUT/cmake/src/"
(
  emcmake cmake -S "$OUT/cmake/src" -B "$OUT/cmake" >"$OUT/cmake/configure.log" 2>&1 \
    || { tail -30 "$OUT/cmake/configure.log"; exit 1; }
  cmake --build "$OUT/cmake" >"$OUT/cmake/make.log" 2>&1 || { tail -30 "$OUT/cmake/make.log"; exit 1; }
)
[ -f "$OUT/autotools/listdevs.wasm" ] && [ -f "$OUT/cmake/listdevs.wasm" ] || die "a project produced no listdevs"
touch "$OUT/.built"
