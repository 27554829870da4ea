#!/usr/bin/env bash
# Installs Debian's chromium package when /usr/bin/chromium is missing (needs
# root or sudo). The browser tests drive it with playwright-core; Playwright's
# own browser download is not used.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
echo "==> installing chromium (apt-get install -y chromium)"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "chromium is still missing after installing it" >&2; exit 1; }
