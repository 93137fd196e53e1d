#!/bin/sh
# Stage 2 of the course VM, run by busybox init (PID 1) from /etc/inittab.
#
# Sets up a pure cgroup v2 machine the way a course VM looks (ext4 root with /tmp on it, proc, sys,
# devtmpfs, tmpfs /run, cgroup2 at /sys/fs/cgroup with cpu memory pids cpuset io enabled, items in a
# session scope, shared mount propagation, lo up), mounts the shares, runs every planned item with a per-item timeout, writes its exit code, duration
# and log into the results share, then powers off. Progress goes to the serial console.
# The harness's own steps use busybox first (static: no dynamic loading, which is slow under TCG);
# the items get the real tools first (REAL_PATH), as on a course VM.
REAL_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/bb
PATH=/bb:$REAL_PATH
export PATH
R=/vm-results

log() { echo "labctl-vm: [$(cut -d' ' -f1 /proc/uptime)] $*" >/dev/console; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
poweroff_now() {
    sync
    /bb/poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
hostname -F /etc/hostname

setup_errors=
setup_fail() {
    log "setup: $*"
    setup_errors="$setup_errors$*
"
}

log "mounted /proc /sys /dev /run"
# Kernel modules (9p first: the shares need it). modprobe also serves the kernel's autoloading.
for m in $(cat /vm/modules); do
    grep -q "^$(echo "$m" | tr - _) " /proc/modules || modprobe "$m" || setup_fail "modprobe $m failed"
done

log "modules loaded"
mkdir -p $R
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results $R; then
    log "cannot mount the results share (9p tag 'results')"
    poweroff_now
fi
mkdir -p $R/out
# shellcheck source=/dev/null
. $R/plan/config # REPO, REPO_MODE, TEST_TIMEOUT

mkdir -p "$REPO"
# Read-only (the default) allows the fast loose cache; read-write (--snapshots new|always) must
# write through to the host.
if [ "$REPO_MODE" = rw ]; then repo_opts=cache=mmap,rw; else repo_opts=cache=loose,ro; fi
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,$repo_opts repo "$REPO" ||
    setup_fail "cannot mount the repository share at $REPO"

log "shares mounted"
# Pure cgroup v2, as on Ubuntu 22.04+/Debian 12 (the kernel runs with cgroup_no_v1=all).
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || setup_fail "mount cgroup2"
for c in cpu memory pids cpuset io; do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
        setup_fail "cannot enable cgroup v2 controller $c (available: $(cat /sys/fs/cgroup/cgroup.controllers))"
done
grep -q cgroup_no_v1=all /proc/cmdline || setup_fail "kernel command line lacks cgroup_no_v1=all"
# Items run where `sudo labctl` runs on a systemd machine: in a session scope under user.slice, never
# in the root cgroup (the "no internal processes" rule then applies to the groups above them).
# systemd delegates memory and pids to user slices by default.
SESSION=/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope
mkdir -p $SESSION || setup_fail "mkdir $SESSION"
for c in memory pids; do
    if ! echo "+$c" >/sys/fs/cgroup/user.slice/cgroup.subtree_control ||
        ! echo "+$c" >/sys/fs/cgroup/user.slice/user-0.slice/cgroup.subtree_control; then
        setup_fail "cannot enable $c for user.slice"
    fi
done
# systemd makes every mount shared; course VMs therefore have shared propagation.
/usr/bin/mount --make-rshared / || setup_fail "mount --make-rshared /"
ip link set lo up || setup_fail "ip link set lo up"

boot_done=$(uptime_s)
log "up in ${boot_done}s: $(uname -r), cgroup controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
{
    echo "kernel $(uname -r)"
    echo "cmdline $(cat /proc/cmdline)"
    echo "cgroup.controllers $(cat /sys/fs/cgroup/cgroup.controllers)"
    echo "cgroup.subtree_control $(cat /sys/fs/cgroup/cgroup.subtree_control)"
    echo "mounts:"
    cat /proc/self/mountinfo
    echo "modules:"
    cat /proc/modules
    printf '%s' "$setup_errors"
} >$R/out/setup.log 2>&1
echo "$boot_done" >$R/out/boot.secs

result() { # id name rc secs
    echo "$3" >"$R/out/$1.rc"
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>$R/out/summary.tsv
}

if [ -n "$setup_errors" ]; then
    result 000 vm:setup 1 0
else
    result 000 vm:setup 0 0
fi

# The plan: one line "id name" per item; the item is $R/plan/<id>.sh, run by the real /bin/sh.
while read -r id name; do
    [ -n "$id" ] || continue
    log "run $name"
    start=$(uptime_s)
    # shellcheck disable=SC2016 # $$, $1, $2 belong to the inner shell
    (cd / && PATH=$REAL_PATH exec /bb/timeout -s TERM -k 10 "$TEST_TIMEOUT" \
        /bin/sh -c 'echo $$ >"$1/cgroup.procs" && exec /bin/sh "$2"' item $SESSION "$R/plan/$id.sh") \
        >"$R/out/$id.log" 2>&1 </dev/null
    rc=$?
    secs=$(awk -v a="$start" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')
    [ "$rc" -eq 143 ] || [ "$rc" -eq 137 ] && echo "labctl-vm: timed out after ${TEST_TIMEOUT}s" >>"$R/out/$id.log"
    log "done $name rc=$rc ${secs}s"
    result "$id" "$name" "$rc" "$secs"
done <$R/plan/list

# Nothing labctl made may be left once everything ran (checked with the real tools).
(
    PATH=$REAL_PATH
    found=0
    check() { # what, lines
        if [ -n "$2" ]; then
            echo "left behind ($1):"
            echo "$2"
            found=1
        fi
    }
    check mounts "$(findmnt -rn -o TARGET | grep -i labctl | grep -v -x -e "$REPO" -e $R)"
    check netns "$(ip netns list 2>/dev/null | grep -i labctl)"
    check links "$(ip -o link show | grep -E ': (lc|labctl)')"
    check cgroups "$(find /sys/fs/cgroup -maxdepth 5 -name 'labctl*' 2>/dev/null)"
    check nft "$(nft list tables 2>/dev/null | grep -i labctl)"
    check iptables "$(iptables-save 2>/dev/null | grep -i labctl)"
    check processes "$(ps -eo pid,comm | grep -i labctl)"
    [ $found = 0 ] && echo "nothing left behind"
    exit $found
) >$R/out/999.log 2>&1
result 999 vm:leftovers $? 0

dmesg >$R/out/dmesg.txt 2>&1
uptime_s >$R/out/end.secs
echo finished >$R/out/DONE
umount "$REPO" 2>/dev/null
umount $R
log "all done after $(uptime_s)s, powering off"
poweroff_now
