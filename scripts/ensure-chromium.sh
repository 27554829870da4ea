#!/usr/bin/env bash
# Installs Debian's chromium package when /usr/bin/chromium is missing (needs
# root or sudo). The browser tests drive it with playwright-core; Playwright's
# own browser download is not used.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
. "$(dirname "$0")/apt.sh"
echo "==> installing chromium for the browser tests (apt-get install -y chromium)"
apt_install --no-install-recommends chromium || { echo "could not install chromium with apt-get" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "/usr/bin/chromium is still missing after installing chromium" >&2; exit 1; }
