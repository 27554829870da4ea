#!/usr/bin/env bash
# Builds hidapi 0.13.1, unmodified, against libusb-wasm with hidapi's own
# build systems: autotools (emconfigure) and CMake (emcmake), each building
# hidapi's libusb backend (libusb/hid.c) and its `hidtest` program. It is the
# proof that a third-party libusb program builds and runs as it is.
#
# The source comes from Debian's source package (`apt-get source hidapi`),
# fetched with a private apt configuration that adds deb-src entries for the
# machine's own Debian mirrors; the system's apt setup is left alone.
# Nothing of hidapi is committed to this repository.
#
#   scripts/third-party/hidapi.sh    -> build/third-party/hidapi/{autotools,cmake}/hidtest/...
#
# Needs the SDK (./build.sh sdk), emcc, pkg-config, autoconf, automake,
# libtool and cmake; the missing tools are installed with apt-get.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

VERSION=0.13.1
DEB_VERSION=0.13.1-1
OUT=build/third-party/hidapi
newer_than "$OUT/.built-$DEB_VERSION" "${SDK_FILES[@]}" "$0" "$(dirname "$0")/common.sh" && exit 0
need_tools pkg-config:pkg-config autoreconf:autoconf automake:automake libtoolize:libtool cmake:cmake

# ---- source: apt-get source with our own deb-src entries -------------------
APT=$ROOT/build/cache/apt-src
SRC=$ROOT/build/cache/hidapi-$VERSION
if [ ! -f "$SRC/.unpacked" ]; then
  say "fetching hidapi $DEB_VERSION from Debian's source package (apt-get source)"
  rm -rf "$APT/sources.list.d" && mkdir -p "$APT/sources.list.d" "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/download"
  # deb-src twins of the machine's own deb entries (deb822 and one-line formats)
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed -e 's/^Types:.*\bdeb\b.*$/Types: deb-src/' "$f" > "$APT/sources.list.d/$(basename "$f")"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && sed -n -e 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" > "$APT/sources.list.d/$(basename "$f").list"
  done
  apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$APT/sources.list.d"
    -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)")
  # a mirror without sources (a third-party repository) only costs a warning
  apt-get "${apt_opts[@]}" update -qq || say "apt-get update reported errors; trying apt-get source anyway"
  (cd "$APT/download" && rm -f hidapi_* && apt-get "${apt_opts[@]}" source --download-only -qq "hidapi=$DEB_VERSION") \
    || die "apt-get source hidapi=$DEB_VERSION failed"
  # Debian ships hidapi without patches: the orig tarball is upstream's release.
  tarball=$(ls "$APT"/download/hidapi_"$VERSION".orig.tar.*)
  rm -rf "$SRC" "$SRC.tmp" && mkdir -p "$SRC.tmp"
  tar -xf "$tarball" -C "$SRC.tmp" --strip-components=1
  grep -qx "$VERSION" "$SRC.tmp/VERSION" || die "unpacked hidapi is not version $VERSION"
  mv "$SRC.tmp" "$SRC"
  touch "$SRC/.unpacked"
fi

# The one documented flag: a static library between the program and libusb
# (libtool's .la, CMake's static targets) keeps only -l/-L, so the program's
# link step gets libusb-wasm's link flags itself.
LINK_FLAGS=$(pkg-config --libs libusb-1.0)

# ---- autotools ---------------------------------------------------------------
say "hidapi $VERSION with autotools: emconfigure ./configure && emmake make"
AT=$ROOT/$OUT/autotools
rm -rf "$AT" && mkdir -p "$AT"
cp -a "$SRC/." "$AT/src"
(
  cd "$AT/src"
  ./bootstrap >"$AT/bootstrap.log" 2>&1 || { cat "$AT/bootstrap.log"; exit 1; }
  # The Linux branch of hidapi's configure also wants libudev for the hidraw
  # backend, which we do not build: tell PKG_CHECK_MODULES it is there.
  # --disable-shared: programs link libraries statically under Emscripten.
  emconfigure ./configure --disable-shared libudev_CFLAGS=' ' libudev_LIBS=' ' \
    >"$AT/configure.log" 2>&1 || { tail -40 "$AT/configure.log"; exit 1; }
  # LDFLAGS at make time rather than configure time keeps configure's many
  # link probes fast; either place works.
  emmake make -C libusb >"$AT/make.log" 2>&1 \
    && emmake make -C hidtest hidtest-libusb LDFLAGS="$LINK_FLAGS" >>"$AT/make.log" 2>&1 \
    || { tail -40 "$AT/make.log"; exit 1; }
)
ln -sfn src/hidtest "$AT/hidtest"

# ---- CMake -------------------------------------------------------------------
say "hidapi $VERSION with CMake: emcmake cmake && cmake --build"
CM=$ROOT/$OUT/cmake
rm -rf "$CM" && mkdir -p "$CM"
(
  emcmake cmake -S "$SRC" -B "$CM" -DBUILD_SHARED_LIBS=OFF -DHIDAPI_BUILD_HIDTEST=ON \
    -DCMAKE_EXE_LINKER_FLAGS="$LINK_FLAGS" >"$CM/configure.log" 2>&1 || { tail -40 "$CM/configure.log"; exit 1; }
  cmake --build "$CM" >"$CM/make.log" 2>&1 || { tail -40 "$CM/make.log"; exit 1; }
)

[ -f "$AT/hidtest/hidtest-libusb.wasm" ] || die "autotools build produced no hidtest-libusb"
[ -f "$CM/hidtest/hidtest.wasm" ] || die "CMake build produced no hidtest.js"
touch "$OUT/.built-$DEB_VERSION"
say "hidtest: $OUT/autotools/hidtest/hidtest-libusb and $OUT/cmake/hidtest/hidtest.js"
