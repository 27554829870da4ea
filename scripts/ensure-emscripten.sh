#!/usr/bin/env bash
# Installs Debian's emscripten package when emcc is missing (needs root or sudo).
set -euo pipefail
command -v emcc >/dev/null && exit 0
echo "==> installing emscripten (apt-get install -y emscripten)"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq emscripten >/dev/null
command -v emcc >/dev/null || { echo "emcc is still missing after installing emscripten" >&2; exit 1; }
