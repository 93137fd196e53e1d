#!/usr/bin/env bash
# The OCI runtime-tools validation suite (opencontainers/runtime-tools at 260e151, vendored) as a
# judge of OCI runtimes: runs each of its 58 test programs against each runtime and prints one table
# (ok / not ok counts per runtime) and, per runtime, "N of 58 programs fully passed".
#
#   tests/judges/runtime-tools.sh [--runtime NAME=PATH]... [--timeout SECS] [--retries N] [TEST...]
#
# Without --runtime: runc, crun and, when built, the checkout's target/debug/lcrun. TEST is a program
# name (`default`, `linux_cgroups_memory`) or its path (`validation/default/default.t`); default all.
# A program fully passes when it exits 0 and prints no `not ok` (so a plan of 1..0 counts, as with
# prove). Some programs race the container (pidfile, killsig: each flips now and then): with
# --retries N a program that did not fully pass runs again, up to N times (default 0); the table
# then says `pass(2)` when the second run passed.
# Needs root, golang-go, busybox-static, tar, util-linux. Builds the suite once (~30 s) into
# ~/.cache/labctl-judges/; TAP logs of the last five runs stay in
# ~/.cache/labctl-judges/logs/.
# Exit status: 0 when every program ran (whatever it found), 2 on a harness error.
# Measured on the v1-hybrid build host: runc 33-34, crun 38-39 (pidfile and killsig flip).
set -euo pipefail

die() { echo "runtime-tools.sh: $*" >&2; exit 2; }
say() { echo "== $*" >&2; }

REPO=$(cd "$(dirname "$0")/../.." && pwd)
VERSION=260e151
TIMEOUT=${LABCTL_JUDGE_TIMEOUT:-60}
RETRIES=0

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }

runtimes=() # NAME=PATH
tests=()
while [ $# -gt 0 ]; do
    case $1 in
        --runtime) [ $# -ge 2 ] || die "--runtime needs NAME=PATH"; runtimes+=("$2"); shift 2 ;;
        --runtime=*) runtimes+=("${1#--runtime=}"); shift ;;
        --timeout) [ $# -ge 2 ] || die "--timeout needs seconds"; TIMEOUT=$2; shift 2 ;;
        --retries) [ $# -ge 2 ] || die "--retries needs a number"; RETRIES=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option '$1' (see --help)" ;;
        *) tests+=("$1"); shift ;;
    esac
done
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds, not '$TIMEOUT'"
[[ $RETRIES =~ ^[0-9]+$ ]] || die "--retries must be a number, not '$RETRIES'"
[ "$(id -u)" = 0 ] || die "needs root (the runtimes create namespaces, cgroups and mounts): try sudo $0"
for tool in go tar unshare findmnt timeout flock sha256sum; do
    command -v $tool >/dev/null || die "'$tool' is missing (apt-get install golang-go tar util-linux coreutils)"
done

if [ ${#runtimes[@]} = 0 ]; then
    runtimes=(runc=/usr/sbin/runc crun=/usr/bin/crun)
    [ -x "$REPO/target/debug/lcrun" ] && runtimes+=("lcrun=$REPO/target/debug/lcrun")
fi
for r in "${runtimes[@]}"; do
    name=${r%%=*} path=${r#*=}
    [[ $r == *=* && $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "--runtime wants NAME=PATH (NAME of letters, digits, _.-), not '$r'"
    [[ $path == /* ]] || die "runtime $name: '$path' is not an absolute path"
    [ -x "$path" ] && [ -f "$path" ] || die "runtime $name: '$path' is not an executable file"
done

# --- the suite, built once per (tarball, patch, rootfs recipe, Go) ----------------------------------

vendor_tarball() {
    local d
    for d in "${LABCTL_VENDOR_DIR:-}" "$REPO/../shared/vendor" "$REPO/../../shared/vendor" /work/shared/vendor; do
        [ -n "$d" ] && [ -f "$d/runtime-tools-$VERSION.tar.gz" ] && { echo "$d/runtime-tools-$VERSION.tar.gz"; return; }
    done
    die "runtime-tools-$VERSION.tar.gz not found: set LABCTL_VENDOR_DIR to the directory holding it (shared/vendor)"
}

# Cgroups: labctl may only create cgroups under a `labctl` sub-tree, but the suite hard-codes
# `/cgrouptest` (absolute cgroupsPath, i.e. /sys/fs/cgroup/*/cgrouptest) and `testdir/cgrouptest/
# container` (relative: under the runtime's own cgroup) in cgroups/cgroups.go, and
# delete_only_create_resources makes /sys/fs/cgroup/pids/cgrouptest itself. We move them to
# /labctl/cgrouptest and labctl/testdir/cgrouptest/container, and let $LABCTL_CGROUPTEST_ABS and
# $LABCTL_CGROUPTEST_REL override them so that two runs at once never share a cgroup. The harness
# points both into a cgroup of its own, and starts every program inside a cgroup under labctl:
# runc takes a relative path below its own cgroup, crun below the hierarchy's root, and so both land
# under labctl.
patch_suite() { # in the unpacked source tree
    sed -i -e 's|AbsCgroupPath = "/cgrouptest"|AbsCgroupPath = labctlCgroup("LABCTL_CGROUPTEST_ABS", "/labctl/cgrouptest")|' \
        -e 's|RelCgroupPath = "testdir/cgrouptest/container"|RelCgroupPath = labctlCgroup("LABCTL_CGROUPTEST_REL", "labctl/testdir/cgrouptest/container")|' \
        cgroups/cgroups.go
    cat >>cgroups/cgroups.go <<'EOF'

// labctlCgroup: the cgroup path in $name, or def (labctl's patch).
func labctlCgroup(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
EOF
    sed -i -e 's|testPath := filepath.Join(cgPath, "pids", "cgrouptest")|testPath := filepath.Join(cgPath, "pids", cgroups.AbsCgroupPath+"-pre")|' \
        -e 's|os.Mkdir(testPath, 0o755)|os.MkdirAll(testPath, 0o755)|' \
        -e 's|"github.com/opencontainers/runtime-tools/specerror"|"github.com/opencontainers/runtime-tools/cgroups"\n\t&|' \
        validation/delete_only_create_resources/delete_only_create_resources.go
    grep -q 'labctlCgroup("LABCTL_CGROUPTEST_ABS"' cgroups/cgroups.go &&
        grep -q 'labctlCgroup("LABCTL_CGROUPTEST_REL"' cgroups/cgroups.go &&
        grep -q 'cgroups.AbsCgroupPath+"-pre"' validation/delete_only_create_resources/delete_only_create_resources.go ||
        die "the cgroup patch no longer applies to runtime-tools $VERSION"
}

# The busybox rootfs the suite untars into every bundle: Debian's static busybox, its applet links,
# and the passwd/group the user tests read.
make_rootfs() { # OUT.tar.gz
    local busybox dir
    busybox=$(dpkg -L busybox-static 2>/dev/null | grep -m1 '/bin/busybox$') ||
        die "busybox-static is not installed (apt-get install busybox-static)"
    dir=$(mktemp -d)
    # The tarball's "." sets the bundle's rootfs dir mode: 0755 as a real image's root, so a
    # user namespace's mapped root can enter it (mktemp's 0700 would lock it out).
    chmod 755 "$dir"
    mkdir -p "$dir"/{bin,dev,proc,sys,etc,tmp}
    cp "$busybox" "$dir/bin/busybox"
    for applet in $("$dir/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
    done
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'daemon:x:1:1:daemon:/usr/sbin:/bin/false' \
        'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$dir/etc/passwd"
    printf '%s\n' 'root:x:0:' 'daemon:x:1:' 'nogroup:x:65534:' >"$dir/etc/group"
    tar --numeric-owner --owner=0 --group=0 -czf "$1" -C "$dir" .
    rm -rf "$dir"
}

TARBALL=$(vendor_tarball)
CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/labctl-judges
KEY=$( { declare -f patch_suite make_rootfs; sha256sum <"$TARBALL"; go version; } | sha256sum | cut -c1-12)
SUITE=$CACHE_ROOT/runtime-tools-$VERSION-$KEY
mkdir -p "$CACHE_ROOT"
if [ ! -f "$SUITE/.complete" ]; then
    exec 9>"$CACHE_ROOT/.lock"
    flock 9
    if [ ! -f "$SUITE/.complete" ]; then
        say "building runtime-tools $VERSION into $SUITE (once)"
        build=$(mktemp -d "$CACHE_ROOT/.build.XXXXXX")
        tar xzf "$TARBALL" -C "$build"
        src=$build/runtime-tools-$VERSION
        (cd "$src" && patch_suite)
        (cd "$src" && export GOFLAGS=-mod=vendor GOPROXY=off GOCACHE=$CACHE_ROOT/go-build &&
            make runtimetest tool >"$build/make.log" 2>&1 && make -j2 validation-executables >>"$build/make.log" 2>&1) ||
            { tail -20 "$build/make.log" >&2; die "building runtime-tools failed (log above)"; }
        make_rootfs "$src/rootfs-amd64.tar.gz"
        touch "$src/.complete"
        rm -rf "$SUITE"
        mv "$src" "$SUITE"
        rm -rf "$build"
        # builds of older versions of this script
        for old in "$CACHE_ROOT"/runtime-tools-$VERSION-*; do
            [ "$old" = "$SUITE" ] || rm -rf "$old"
        done
    fi
    exec 9>&-
fi

all_tests=()
for t in "$SUITE"/validation/*/*.t; do all_tests+=("$(basename "$t" .t)"); done
if [ ${#tests[@]} = 0 ]; then
    tests=("${all_tests[@]}")
else
    for i in "${!tests[@]}"; do
        t=$(basename "${tests[$i]}" .t)
        [ -x "$SUITE/validation/$t/$t.t" ] || die "no test program '$t' (known: ${all_tests[*]})"
        tests[$i]=$t
    done
fi

# --- one run: a work dir, a state root per runtime, a cgroup under labctl ---------------------------

RUN=$(mktemp -d /tmp/labctl-judges-rt.XXXXXX)
chmod 755 "$RUN" # the user-namespace tests' mapped root must reach the bundles below
# TAP logs: one dir per run (runs at once do not mix), the newest five kept.
LOGS=$CACHE_ROOT/logs/$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$LOGS"
ls -1d "$CACHE_ROOT"/logs/*/ | head -n -5 | xargs -r rm -rf
CG=labctl/judges-rt-$$
CG_ABS=/$CG/cgrouptest
CG_REL=$CG/testdir/cgrouptest/container
mkdir -p "$RUN/work" "$RUN/tmp"
cp "$SUITE/runtimetest" "$SUITE/rootfs-amd64.tar.gz" "$RUN/work/"

# Every cgroup hierarchy mounted here (v1: one per controller, plus name=systemd; hybrid: plus
# unified; pure v2: /sys/fs/cgroup).
mapfile -t hierarchies < <(findmnt -rn -t cgroup,cgroup2 -o TARGET)
[ ${#hierarchies[@]} -gt 0 ] || die "no cgroup filesystem is mounted"
unified_hybrid=0
findmnt -rn -t cgroup2 -o TARGET /sys/fs/cgroup/unified >/dev/null 2>&1 && unified_hybrid=1

# cgroups under labctl: $CG/suite holds the test program (and so the runtimes it starts, whose
# relative cgroupsPath lands below it); $CG/cgrouptest is the suite's absolute cgroupsPath.
cgroup_setup() {
    local h d
    for h in "${hierarchies[@]}"; do
        for d in labctl "$CG" "$CG/suite"; do
            [ -d "$h/$d" ] || mkdir "$h/$d" 2>/dev/null || [ -d "$h/$d" ] || die "cannot create cgroup $h/$d"
            # v1 cpuset: a new group has no cpus or mems until given its parent's.
            if [ -f "$h/$d/cpuset.cpus" ] && [ -z "$(cat "$h/$d/cpuset.cpus")" ]; then
                cat "$(dirname "$h/$d")/cpuset.cpus" >"$h/$d/cpuset.cpus"
                cat "$(dirname "$h/$d")/cpuset.mems" >"$h/$d/cpuset.mems"
            fi
            # v2: hand the controllers down, so the runtimes can set limits below.
            if [ -f "$h/$d/cgroup.subtree_control" ] && [ "$d" != "$CG/suite" ]; then
                for c in $(cat "$h/$d/cgroup.controllers"); do
                    echo "+$c" >"$h/$d/cgroup.subtree_control" 2>/dev/null || true
                done
            fi
        done
    done
}

cgroup_pids() { # every pid in our cgroups
    local h
    for h in "${hierarchies[@]}"; do
        [ -d "$h/$CG" ] && find "$h/$CG" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -un
}

# Kills what a program left running (only processes inside our cgroups: ones we started), then
# removes every cgroup below $CG except $CG/suite itself; with `all`, those too, and labctl if empty.
cgroup_cleanup() {
    local h pids i
    for i in $(seq 50); do
        pids=$(cgroup_pids)
        [ -z "$pids" ] && break
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        # frozen processes (a pause test) cannot die until thawed
        for h in "${hierarchies[@]}"; do
            find "$h/$CG" -name freezer.state -exec sh -c 'for f; do echo THAWED >"$f"; done' sh {} + 2>/dev/null || true
            find "$h/$CG" -name cgroup.freeze -exec sh -c 'for f; do echo 0 >"$f"; done' sh {} + 2>/dev/null || true
        done
        sleep 0.1
    done
    [ -z "$(cgroup_pids)" ] || echo "runtime-tools.sh: warning: processes left in $CG: $(cgroup_pids | tr '\n' ' ')" >&2
    for h in "${hierarchies[@]}"; do
        [ -d "$h/$CG" ] || continue
        find "$h/$CG" -mindepth 1 -depth -type d ! -path "$h/$CG/suite" -exec rmdir {} + 2>/dev/null || true
        if [ "${1:-}" = all ]; then
            rmdir "$h/$CG/suite" "$h/$CG" 2>/dev/null || true
            rmdir "$h/labctl" 2>/dev/null || true
        fi
    done
}

# Unmounts what a program left under DIR (the suite leaves `ocitest*` bundle mounts), deepest first.
unmount_under() { # DIR
    local m i
    for i in 1 2 3; do
        mapfile -t mounts < <(awk -v p="$1/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
        [ ${#mounts[@]} = 0 ] && return 0
        for m in "${mounts[@]}"; do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done
    done
    awk -v p="$1/" 'index($5, p) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo &&
        die "mounts left under $1 that will not unmount"
    return 0
}

# One wrapper per runtime: its own state root (never the runtime's default, never
# /run/labctl/runtime), and for crun on a hybrid host its private mount namespace.
make_wrapper() { # NAME PATH
    local w=$RUN/bin/$1 root=$RUN/state/$1
    mkdir -p "$RUN/bin" "$root"
    if [ "$(basename "$2")" = crun ] && [ $unified_hybrid = 1 ]; then
        # crun 1.8.1 refuses the hybrid layout ("cgroups in hybrid mode not supported"): give it a
        # private mount namespace without the unified hierarchy. The host's mounts are untouched.
        cat >"$w" <<EOF
#!/bin/sh
exec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "\$0" "\$@"' $2 --root $root "\$@"
EOF
    else
        printf '#!/bin/sh\nexec %s --root %s "$@"\n' "$2" "$root" >"$w"
    fi
    chmod +x "$w"
    echo "$w"
}

cleanup_run() {
    set +e
    cgroup_cleanup all
    unmount_under "$RUN"
    rm -rf --one-file-system "$RUN"
}
trap cleanup_run EXIT
trap 'exit 130' INT TERM

cgroup_setup
# What each hierarchy's root holds now: a runtime that puts a container's cgroup outside labctl is
# reported (not removed: a new entry may be another session's).
declare -A roots_before
for h in "${hierarchies[@]}"; do roots_before[$h]=$(ls "$h"); done
report_outside() { # NAME TEST
    local h e
    for h in "${hierarchies[@]}"; do
        for e in $(comm -13 <(echo "${roots_before[$h]}" | sort) <(ls "$h" | sort)); do
            [ -d "$h/$e" ] && [[ $e != labctl* ]] &&
                echo "runtime-tools.sh: warning: after $1 $2 there is a cgroup $h/$e outside labctl (not removed: it may be another session's)" >&2
        done
    done
    return 0
}

# Runs one program for one runtime; prints "OK NOTOK RC".
run_one() { # NAME WRAPPER TEST
    local tmp=$RUN/tmp/$1/$3 log=$LOGS/$1/$3 rc=0 id
    mkdir -p "$tmp" "$LOGS/$1"
    (
        for h in "${hierarchies[@]}"; do echo $BASHPID >"$h/$CG/suite/cgroup.procs"; done
        cd "$RUN/work"
        exec env TMPDIR="$tmp" RUNTIME="$2" LABCTL_CGROUPTEST_ABS="$CG_ABS" LABCTL_CGROUPTEST_REL="$CG_REL" \
            timeout -k 5 "$TIMEOUT" "$SUITE/validation/$3/$3.t"
    ) </dev/null >"$log.tap" 2>"$log.err" || rc=$?
    # containers the program left: delete them through the runtime, then whatever is still running
    for id in $(ls "$RUN/state/$1"); do
        timeout 10 "$2" delete --force "$id" >/dev/null 2>&1 || true
    done
    cgroup_cleanup
    report_outside "$1" "$3"
    unmount_under "$tmp"
    rm -rf --one-file-system "$tmp"
    rm -rf --one-file-system "${RUN:?}/state/$1"/* 2>/dev/null || true
    echo "$(grep -c '^ok' "$log.tap") $(grep -c '^not ok' "$log.tap") $rc"
}

# A program fully passes when it exits 0 and prints no `not ok`.
passed() { # "ok notok rc"
    local ok notok rc
    read -r ok notok rc _ <<<"$1"
    [ "$rc" = 0 ] && [ "$notok" = 0 ]
}

declare -A result # [name,test] = "ok notok rc [attempt]"
names=()
wrappers=()
for r in "${runtimes[@]}"; do
    names+=("${r%%=*}")
    wrappers+=("$(make_wrapper "${r%%=*}" "${r#*=}")")
done

start=$SECONDS
for t in "${tests[@]}"; do
    for i in "${!names[@]}"; do
        r=$(run_one "${names[$i]}" "${wrappers[$i]}" "$t")
        attempt=1
        while ! passed "$r" && [ $attempt -le "$RETRIES" ]; do
            attempt=$((attempt + 1))
            r="$(run_one "${names[$i]}" "${wrappers[$i]}" "$t") $attempt"
        done
        result[${names[$i]},$t]=$r
    done
    printf '%s ' "$t" >&2
done
echo >&2
say "ran ${#tests[@]} programs x ${#names[@]} runtimes in $((SECONDS - start)) s; TAP logs in $LOGS"

# --- the table --------------------------------------------------------------------------------------

cell() { # "ok notok rc [attempt]" -> "ok notok mark"
    local ok notok rc attempt mark
    read -r ok notok rc attempt <<<"$1"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then mark=timeout
    elif [ "$rc" != 0 ]; then mark="exit $rc"
    elif [ "$notok" = 0 ]; then mark=pass${attempt:+($attempt)}
    else mark=-; fi
    printf '%4s %4s  %-8s' "$ok" "$notok" "$mark"
}
printf '%-36s' "test program"
for n in "${names[@]}"; do printf '  %-18s' "$n"; done
echo
printf '%-36s' ""
for n in "${names[@]}"; do printf '  %4s %4s  %-8s' ok "!ok" ""; done
echo
for t in "${tests[@]}"; do
    printf '%-36s' "$t"
    for n in "${names[@]}"; do printf '  %s' "$(cell "${result[$n,$t]}")"; done
    echo
done
for n in "${names[@]}"; do
    count=0
    for t in "${tests[@]}"; do
        passed "${result[$n,$t]}" && count=$((count + 1))
    done
    echo "$n: $count of ${#tests[@]} programs fully passed"
done
