#!/usr/bin/env bash
# Installs Debian's tshark (Wireshark's command-line dissector) when it is
# missing (needs root or sudo). The capture tests read the pcapng files the
# transport host writes with it, so the real usbmon dissector checks them.
# wireshark-common asks a debconf question (may non-root users capture?):
# DEBIAN_FRONTEND=noninteractive (apt.sh) takes its default, no.
set -euo pipefail
command -v tshark >/dev/null && exit 0
. "$(dirname "$0")/apt.sh"
echo "==> installing tshark for the capture tests (apt-get install -y tshark)"
apt_install --no-install-recommends tshark || { echo "could not install tshark with apt-get" >&2; exit 1; }
command -v tshark >/dev/null || { echo "tshark is still missing after installing it" >&2; exit 1; }
