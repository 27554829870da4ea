#!/usr/bin/env bash
# Prepares everything the real-kernel tests need, from Debian's archive only:
#   - qemu-system-x86 (installed with apt-get: it needs its shared libraries)
#   - into a cache directory, unpacked with `dpkg -x` (nothing else installed):
#     the linux-image-amd64 kernel and its modules (index built with depmod -b),
#     busybox-static, udev (systemd-udevd), usbutils (lsusb) + libusb, kmod,
#     usbip (usbip, usbipd: Linux's own USB/IP tools) + libwrap0
#   - vmlinux, the uncompressed kernel extracted from vmlinuz (boots ~2.6 s
#     faster under software emulation than the self-decompressing bzImage)
#   - initramfs.cpio: busybox, our init, and the modules needed to mount the
#     host's root over virtio-9p
# Idempotent: a second run does nothing but check. Prints progress.
#
# usage: test/qemu/prepare.sh            (cache: build/qemu, or $LIBUSB_WASM_QEMU_CACHE)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
project="$(cd "$here/../.." && pwd)"
cache="${LIBUSB_WASM_QEMU_CACHE:-$project/build/qemu}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
root="$cache/root"

say() { printf '\033[1m==> qemu: %s\033[0m\n' "$*"; }
die() { printf 'qemu prepare: %s\n' "$*" >&2; exit 1; }

. "$project/scripts/apt.sh"

# ---- QEMU ------------------------------------------------------------------
if ! command -v qemu-system-x86_64 >/dev/null; then
  say "installing qemu-system-x86 (apt-get)"
  apt_install --no-install-recommends qemu-system-x86 || die "could not install qemu-system-x86 with apt-get"
fi

# the kernel image is xz-compressed; dpkg and the image need xz to unpack
if ! command -v xz >/dev/null; then
  say "installing xz-utils (apt-get)"
  apt_install --no-install-recommends xz-utils || die "could not install xz-utils with apt-get"
fi

# ---- Debian packages, unpacked -----------------------------------------------
# linux-image-amd64 is a metapackage: find the versioned image it points at.
resolve_kernel() {
  apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1
}
kernel_pkg="$(resolve_kernel)"
if [ -z "$kernel_pkg" ]; then
  apt_update || die "apt-get update failed"
  kernel_pkg="$(resolve_kernel)"
fi
[ -n "$kernel_pkg" ] || die "apt cannot resolve linux-image-amd64"
packages=("$kernel_pkg" busybox-static udev usbutils libusb-1.0-0 kmod libkmod2 usbip libwrap0)

stamp="$cache/.unpacked"
want="${packages[*]}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  rm -rf "$cache/debs" "$root" "$cache/vmlinux" "$cache/initramfs.cpio"
  mkdir -p "$cache/debs" "$root"
  say "downloading ${packages[*]} (apt-get download)"
  # apt's sandbox user cannot write into most directories
  chmod 777 "$cache/debs" 2>/dev/null || true
  ( cd "$cache/debs" && { apt-get download -q "${packages[@]}" >/dev/null 2>&1 \
      || { apt_update && apt-get download -q "${packages[@]}" >/dev/null; }; } ) \
    || die "apt-get download failed"
  for deb in "$cache/debs"/*.deb; do
    say "unpacking $(basename "$deb")"
    dpkg -x "$deb" "$root"
  done
  echo "$want" >"$stamp"
fi

kver="$(ls "$root/lib/modules" | head -1)"
[ -n "$kver" ] || die "no kernel modules under $root/lib/modules"

# ---- module index ------------------------------------------------------------
if [ ! -f "$root/lib/modules/$kver/modules.dep.bin" ]; then
  say "depmod -b for $kver"
  mkdir -p "$cache/tools"
  ln -sf "$root/bin/kmod" "$cache/tools/depmod"
  LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu" "$cache/tools/depmod" -b "$root" "$kver"
fi

# ---- vmlinux -------------------------------------------------------------------
if [ ! -s "$cache/vmlinux" ]; then
  say "extracting vmlinux from vmlinuz"
  vmlinuz="$root/boot/vmlinuz-$kver"
  # the bzImage carries the kernel as one compressed stream: find its magic
  for fmt in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08'; do
    name="${fmt%%:*}"
    magic="${fmt#*:}"
    for off in $(LC_ALL=C grep -obUaP "$magic" "$vmlinuz" | cut -d: -f1); do
      case "$name" in
        xz) tail -c +$((off + 1)) "$vmlinuz" | xz -dc 2>/dev/null >"$cache/vmlinux.tmp" || true ;;
        zstd) tail -c +$((off + 1)) "$vmlinuz" | zstd -dcq 2>/dev/null >"$cache/vmlinux.tmp" || true ;;
        gzip) tail -c +$((off + 1)) "$vmlinuz" | gzip -dc 2>/dev/null >"$cache/vmlinux.tmp" || true ;;
      esac
      if [ "$(head -c 4 "$cache/vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
        mv "$cache/vmlinux.tmp" "$cache/vmlinux"
        break 2
      fi
    done
  done
  rm -f "$cache/vmlinux.tmp"
  [ -s "$cache/vmlinux" ] || die "could not extract vmlinux from $vmlinuz"
fi

# ---- initramfs -------------------------------------------------------------------
# busybox, /init, and the modules that mount the host's root (virtio-pci + 9p),
# in load order. Everything else comes from the host's file system afterwards.
init_src="$here/guest/init.sh"
if [ ! -s "$cache/initramfs.cpio" ] || [ "$init_src" -nt "$cache/initramfs.cpio" ] || [ "$0" -nt "$cache/initramfs.cpio" ]; then
  say "building initramfs"
  stage="$cache/initramfs"
  rm -rf "$stage"
  mkdir -p "$stage/bb" "$stage/modules" "$stage/dev" "$stage/proc" "$stage/sys" "$stage/host"
  cp "$root/bin/busybox" "$stage/bb/busybox"
  cp "$init_src" "$stage/init"
  chmod 755 "$stage/init"
  moddir="$root/lib/modules/$kver"
  # dependency closure of the modules we need, dependencies first
  declare -A seen=()
  order=()
  add_module() {
    local m="$1" line deps d
    line="$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -1)" || true
    if [ -z "$line" ]; then
      grep -qE "(^|/)$m\.ko" "$moddir/modules.builtin" || die "module $m is neither built in nor a module"
      return
    fi
    local path="${line%%:*}"
    [ -n "${seen[$path]:-}" ] && return
    seen[$path]=1
    deps="${line#*:}"
    for d in $deps; do
      d="$(basename "$d")"
      add_module "${d%%.ko*}"
    done
    order+=("$path")
  }
  for m in virtio_pci 9pnet_virtio 9p; do add_module "$m"; done
  : >"$stage/modules/order"
  for p in "${order[@]}"; do
    f="$(basename "$p")"
    case "$f" in
      *.ko.xz) xz -dc "$moddir/$p" >"$stage/modules/${f%.xz}"; f="${f%.xz}" ;;
      *.ko.zst) zstd -dcq "$moddir/$p" >"$stage/modules/${f%.zst}"; f="${f%.zst}" ;;
      *) cp "$moddir/$p" "$stage/modules/$f" ;;
    esac
    echo "$f" >>"$stage/modules/order"
  done
  (cd "$stage" && find . | LC_ALL=C sort | "$root/bin/busybox" cpio -o -H newc >"$cache/initramfs.cpio.tmp" 2>/dev/null)
  mv "$cache/initramfs.cpio.tmp" "$cache/initramfs.cpio"
  rm -rf "$stage"
fi

echo "$kver" >"$cache/kernel-version"
say "ready: kernel $kver, cache $cache"
