#!/bb/busybox sh
# /init of the test guest (packed into the initramfs by test/qemu/prepare.sh).
#
# It mounts the host's root file system read-only over virtio-9p and lays it
# out as the guest's own, so the guest runs the host's Node and the project
# at the same paths. Kernel modules, udev and usbutils come from the cache
# the prepare script unpacked with dpkg -x. Then it starts systemd-udevd (the
# `usb` package hears hotplug only through udev's netlink group), loads the
# xHCI driver and starts the test agent (test/qemu/guest/agent.mjs), which
# serves the host over a virtio-serial port.
#
# Kernel command line: lw.project=DIR lw.cache=DIR lw.run=DIR (host paths).
export PATH=/bb
/bb/busybox --install -s /bb

log() { echo "lw-init: $*" >/dev/console; }
t0=$(cut -d' ' -f1 /proc/uptime 2>/dev/null)

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
log "kernel up at $(cut -d' ' -f1 /proc/uptime)s"

for m in $(cat /modules/order); do
  insmod "/modules/$m" || log "insmod $m failed"
done

for arg in $(cat /proc/cmdline); do
  case "$arg" in
    lw.project=*) PROJECT="${arg#lw.project=}" ;;
    lw.cache=*) CACHE="${arg#lw.cache=}" ;;
    lw.run=*) RUN="${arg#lw.run=}" ;;
  esac
done

fail() {
  log "FATAL: $*"
  poweroff -f
}

mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 host /host || fail "cannot mount the host's root over 9p"

# The host's top-level directories at their own paths, except those the
# guest has its own of. /lib is ours: the host's /usr/lib entries plus the
# guest kernel's modules and udev.
for e in /host/* /host/.[!.]*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  n="${e#/host/}"
  case "$n" in
    proc|sys|dev|run|tmp|lib|host|bb|modules|init|lost+found) continue ;;
  esac
  if [ -L "$e" ]; then
    ln -s "$(readlink "$e")" "/$n"
  elif [ -d "$e" ]; then
    mkdir -p "/$n" && mount --bind "$e" "/$n"
  fi
done
mkdir -p /lib /tmp /run
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs -o mode=755 run /run
mount -t tmpfs -o mode=755 lib /lib
# A project or cache under a directory the guest has its own of (a clone in
# /tmp, say) would be hidden by those mounts: reach it through /host.
for p in "$PROJECT" "$CACHE"; do
  case "$p" in
    /tmp/*|/run/*) mkdir -p "$p" && mount --bind "/host$p" "$p" || fail "cannot bind $p from the host" ;;
  esac
done
for e in /usr/lib/* ; do ln -s "$e" "/lib/${e#/usr/lib/}"; done
for d in modules udev systemd; do
  rm -f "/lib/$d"
  ln -s "$CACHE/root/lib/$d" "/lib/$d"
done
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
[ -n "$RUN" ] && { mkdir -p "$RUN" && mount -t 9p -o trans=virtio,version=9p2000.L,rw,msize=512000 run "$RUN" || fail "cannot mount the run directory"; }

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$CACHE/root/usr/bin:$CACHE/root/bin:/bb"
export LD_LIBRARY_PATH="$CACHE/root/usr/lib/x86_64-linux-gnu"
export HOME=/root
log "host root mounted at $(cut -d' ' -f1 /proc/uptime)s"

# the loopback interface: servers in the guest (a test's web server) listen on 127.0.0.1
ip link set lo up || log "cannot bring lo up"

# udev: rules from the unpacked package (in /run so any build's search path has them)
mkdir -p /run/udev/rules.d /run/lw
for r in "$CACHE"/root/lib/udev/rules.d/*.rules; do ln -s "$r" /run/udev/rules.d/; done
ln -s "$CACHE/root/bin/udevadm" /run/lw/systemd-udevd
/run/lw/systemd-udevd --daemon --resolve-names=never || log "systemd-udevd did not start"
# No coldplug trigger: what is already there needs no driver for the tests,
# and loading every module it would ask for costs seconds under emulation.
# The USB devices appear after udevd, so udev loads their drivers.
modprobe -a virtio_console xhci_pci || fail "modprobe xhci_pci failed"
udevadm settle --timeout=30 || log "udevadm settle timed out"
log "devices settled at $(cut -d' ' -f1 /proc/uptime)s"

# the guest's second serial port is QEMU's monitor (QMP): raw bytes, no echo
stty -F /dev/ttyS1 raw -echo 115200 2>/dev/null || log "no /dev/ttyS1"

port=""
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = lw.agent ] && port="/dev/${p##*/}"
done
[ -n "$port" ] || fail "no virtio-serial port named lw.agent"
cd "$PROJECT" || fail "no project directory $PROJECT"
# If the agent's Node crashes, its core goes to the run directory: the host
# keeps it (test/qemu/qemu.ts) for a backtrace with gdb.
if [ -n "$RUN" ]; then
  ulimit -c unlimited
  echo "$RUN/core.%e.%p" >/proc/sys/kernel/core_pattern
fi
node "$PROJECT/test/qemu/guest/agent.mjs" "$port"
status=$?
if [ "$status" -gt 128 ]; then
  log "agent exited: killed by signal $((status - 128)) ($(kill -l $((status - 128)) 2>/dev/null))"
else
  log "agent exited ($status)"
fi
poweroff -f
