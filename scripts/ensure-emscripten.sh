#!/usr/bin/env bash
# Installs Debian's emscripten package when emcc is missing (needs root or sudo).
set -euo pipefail
command -v emcc >/dev/null && exit 0
. "$(dirname "$0")/apt.sh"
echo "==> installing emscripten (apt-get install -y emscripten)"
apt_install emscripten || { echo "could not install emscripten with apt-get" >&2; exit 1; }
command -v emcc >/dev/null || { echo "emcc is still missing after installing emscripten" >&2; exit 1; }
