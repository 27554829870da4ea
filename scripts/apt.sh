# apt helpers shared by the scripts that install what the build and the
# tests need (emscripten, chromium, qemu, autotools...). Sourced, not run.
#
#   apt_install pkg...   install the packages that are missing
#   apt_update           apt-get update, once per script
#
# They run apt-get as root (sudo when not root), wait for a dpkg or apt
# lock another process holds (an unattended upgrade, a second `make`)
# instead of failing, and retry a failed install once after an update.

APT_LOCK_WAIT_S=${APT_LOCK_WAIT_S:-600}

apt_sudo() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# apt-get with the lock wait. DPkg::Lock::Timeout covers dpkg's lock; the
# lists lock of `apt-get update` is not covered by it, so a run that fails
# on a lock is retried until APT_LOCK_WAIT_S is spent.
apt_get() {
  local start=$SECONDS out rc
  while :; do
    out=$(DEBIAN_FRONTEND=noninteractive apt_sudo apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT_S" "$@" 2>&1) && rc=0 || rc=$?
    if [ $rc -ne 0 ] && grep -qiE 'could not get lock|unable to lock|is another process using it' <<<"$out" \
      && [ $((SECONDS - start)) -lt "$APT_LOCK_WAIT_S" ]; then
      [ -z "${apt_said_lock:-}" ] && printf '==> apt: another process holds the package lock; waiting for it (up to %s s)\n' "$APT_LOCK_WAIT_S" >&2
      apt_said_lock=1
      sleep 5
      continue
    fi
    [ $rc -ne 0 ] && [ -z "${APT_QUIET:-}" ] && printf '%s\n' "$out" >&2
    return $rc
  done
}

apt_updated=
apt_update() {
  [ -n "$apt_updated" ] && return 0
  apt_get update -qq || { echo "apt-get update failed (is Debian's archive reachable?)" >&2; return 1; }
  apt_updated=1
}

# apt_install [apt-get options] pkg...: install, with an update first when the package lists
# do not know a package (a fresh machine has none).
apt_install() {
  APT_QUIET=1 apt_get install -y -qq "$@" >/dev/null && return 0
  apt_update || return 1
  apt_get install -y -qq "$@" >/dev/null
}
