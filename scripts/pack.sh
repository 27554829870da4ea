#!/usr/bin/env bash
# Writes the npm package of what `make build` made as DIR/libusb-wasm.tgz
# (default: build/), the file the README's quick start installs until the
# package is on the registry. `make pack` builds first; the tests pack with
# this too. (npm's prepack, ./build.sh all, is skipped: the build is done.)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$(mkdir -p "${1:-build}" && cd "${1:-build}" && pwd)
[ -f dist/cli.js ] || { echo "pack.sh: dist/ is missing: run 'make build' first" >&2; exit 1; }
name=$(npm pack --ignore-scripts --pack-destination "$dest" --silent | tail -n 1)
mv -f "$dest/$name" "$dest/libusb-wasm.tgz"
echo "==> $dest/libusb-wasm.tgz"
