# Shared setup for the third-party build scripts in this directory: the
# tools they need, and the environment a C user sets to build against
# libusb-wasm with emconfigure/emcmake. Sourced, not run.

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/apt.sh"
SDK_PC=$ROOT/build/sdk/lib/pkgconfig
[ -f "$SDK_PC/libusb-1.0.pc" ] || die "the libusb-wasm SDK is missing: run ./build.sh sdk (or make) first"

# newer_than STAMP FILE...: the stamp exists and is newer than every file
newer_than() {
  local stamp=$1 f
  shift
  [ -f "$stamp" ] || return 1
  for f in "$@"; do [ "$stamp" -nt "$f" ] || return 1; done
}
SDK_FILES=("$ROOT/build/sdk/lib/libusb-1.0.a" "$SDK_PC/libusb-1.0.pc" "$ROOT/build/sdk/lib/library_libusb_wasm.js")

# need_tools cmd:package ...: install the missing ones with apt-get
need_tools() {
  local missing=() t
  for t in "$@"; do command -v "${t%%:*}" >/dev/null || missing+=("${t##*:}"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (apt-get)"
  apt_install "${missing[@]}" || die "could not install ${missing[*]} with apt-get"
}
command -v emcc >/dev/null || die "emcc not found (apt-get install emscripten, or run make)"
if [ -d /usr/share/nodejs ]; then export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"; fi

# What a C user sets: PKG_CONFIG_PATH at our libusb-1.0.pc, and the same in
# EM_PKG_CONFIG_PATH, because emconfigure replaces PKG_CONFIG_PATH with it.
export PKG_CONFIG_PATH=$SDK_PC EM_PKG_CONFIG_PATH=$SDK_PC
# Emscripten 3.1.6's generated JS calls fetch() on a file path under Node
# 18+, which breaks configure's "can we run what we compile" probe.
export NODE_OPTIONS="--no-experimental-fetch${NODE_OPTIONS:+ $NODE_OPTIONS}"

# Emscripten's output is CommonJS; this repository's package.json says
# "type": "module", which would make Node load extensionless programs (and
# configure's probes) as ES modules. User projects elsewhere do not need this.
mkdir -p "$ROOT/build/third-party"
echo '{ "type": "commonjs" }' > "$ROOT/build/third-party/package.json"
