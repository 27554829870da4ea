#!/usr/bin/env bash
# Installs Debian's chromium package when /usr/bin/chromium is missing (needs
# root or sudo). The browser tests drive it with playwright-core; Playwright's
# own browser download is not used.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
echo "==> installing chromium for the browser tests (apt-get install -y chromium)"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "/usr/bin/chromium is still missing after installing chromium" >&2; exit 1; }
