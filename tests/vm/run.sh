#!/usr/bin/env bash
# Runs labctl's labs and kernel-touching tests inside a course VM: Debian's stock kernel booted under
# QEMU with pure cgroup v2 (cgroup_no_v1=all), as on learners' Ubuntu 22.04+/Debian 12 machines.
# See tests/vm/README.md. Exits 0 only if every item passed; the last line is "N passed, M failed".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
# shellcheck source=tests/vm/config.sh
. "$HERE/config.sh"

TARGET=$VM_CARGO_TARGET
CACHE_ROOT=${LABCTL_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/labctl-vm}
VM_TIMEOUT=${LABCTL_VM_TIMEOUT:-3600}       # the whole VM, seconds
TEST_TIMEOUT=${LABCTL_VM_TEST_TIMEOUT:-900} # each item inside the VM, seconds (the labs take ~3 min under TCG)
VM_MEM=${LABCTL_VM_MEM:-1024}
VM_CPUS=${LABCTL_VM_CPUS:-2} # multi-threaded TCG: a second vCPU serves VM_PARALLEL_TESTS
ACCEL=${LABCTL_VM_ACCEL:-auto}
read -r -a CARGO_PACKAGES <<<"${LABCTL_VM_PACKAGES:---workspace}" # e.g. "-p labctl -p labkit"
BUILD=1
KEEP=0
VERBOSE=0
SNAPSHOTS=no

usage() {
    cat <<EOF
usage: tests/vm/run.sh [options] [selector...]

Boots Debian's kernel with pure cgroup v2 under QEMU and runs the selected items inside it.

selectors (default: "$VM_DEFAULT_RUN", or \$LABCTL_VM_RUN):
  doctor              labctl doctor
  labs                every lab that 'labctl list --ids' prints (--yes --format plain --redact)
  lab:ID              one lab
  tests               every test executable of the workspace (unit and integration), --test-threads=1
  integration         only the integration test binaries (tests/*.rs of every crate)
  test:NAME[:FILTER]  the test binaries named NAME or PACKAGE/NAME (test:labs, test:labcgroup/cli,
                      test:labkit for its unit tests), optionally filtered by test name
  cmd:COMMAND         a shell command run inside the VM (for debugging)

options:
  --no-build          use the binaries already built (target/$TARGET/debug)
  --keep              keep the results directory (logs, serial log) even when everything passed
  --snapshots MODE    INSTA_UPDATE inside the VM: no (default: a changed snapshot fails), new (write
                      .snap.new files for 'cargo insta review'), always (write the snapshots, e.g.
                      to create a lab's @v2 snapshot); new/always share the repository read-write
  -v, --verbose       stream the serial console while the VM runs
  --accel tcg|kvm|auto  (\$LABCTL_VM_ACCEL, default auto: KVM only if a probe boot works)
  --timeout SECS      whole-VM timeout (\$LABCTL_VM_TIMEOUT, default $VM_TIMEOUT)
  --test-timeout SECS per-item timeout (\$LABCTL_VM_TEST_TIMEOUT, default $TEST_TIMEOUT)
EOF
}

die() { # bad usage: no verdict line
    echo "vm: error: $*" >&2
    exit 2
}
fail_early() { # the harness could not even boot the VM: that is a failure, never a skip
    echo "vm: error: $*" >&2
    printf '\n%-6s %7s  %s\n' RESULT SECS ITEM
    printf '%-6s %7s  %s\n' FAIL - "vm:prepare ($*)"
    echo "0 passed, 1 failed"
    exit 1
}
say() { echo "vm: $*" >&2; }

SELECTORS=()
while [ $# -gt 0 ]; do
    case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --no-build) BUILD=0 ;;
        --keep) KEEP=1 ;;
        --snapshots)
            SNAPSHOTS=${2:?--snapshots needs no, new or always}
            shift
            ;;
        -v | --verbose) VERBOSE=1 ;;
        --accel)
            ACCEL=${2:?--accel needs tcg, kvm or auto}
            shift
            ;;
        --timeout)
            VM_TIMEOUT=${2:?--timeout needs seconds}
            shift
            ;;
        --test-timeout)
            TEST_TIMEOUT=${2:?--test-timeout needs seconds}
            shift
            ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) SELECTORS+=("$1") ;;
    esac
    shift
done
if [ ${#SELECTORS[@]} -eq 0 ]; then
    read -r -a SELECTORS <<<"$VM_DEFAULT_RUN"
fi
for s in "${SELECTORS[@]}"; do
    case $s in
        doctor | labs | lab:?* | tests | integration | test:?* | cmd:?*) ;;
        *) die "unknown selector '$s' (see --help)" ;;
    esac
done
case $ACCEL in tcg | kvm | auto) ;; *) die "--accel must be tcg, kvm or auto, not '$ACCEL'" ;; esac
case $SNAPSHOTS in no | new | always) ;; *) die "--snapshots must be no, new or always, not '$SNAPSHOTS'" ;; esac
[[ $VM_TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds"
[[ $TEST_TIMEOUT =~ ^[0-9]+$ ]] || die "--test-timeout must be a number of seconds"

command -v qemu-system-x86_64 >/dev/null || fail_early "qemu-system-x86_64 not found: apt-get install qemu-system-x86"
command -v cargo >/dev/null || fail_early "cargo not found"

WALL_START=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

needs_tests=0
for s in "${SELECTORS[@]}"; do
    case $s in tests | integration | test:*) needs_tests=1 ;; esac
done

# ---- static binaries ------------------------------------------------------------------------------
# Static glibc builds run in the VM without their libraries. The explicit --target keeps proc-macros
# (built for the host) dynamic and puts everything under target/$TARGET. The flags are in config.sh,
# shared with scripts/test-all.sh so the host's test run builds these very binaries.
CARGO_CONFIG=("${VM_CARGO_CONFIG[@]}")

TARGET_DIR=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
    grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4) || true
[ -n "$TARGET_DIR" ] || TARGET_DIR=$REPO/target
LABCTL=$TARGET_DIR/$TARGET/debug/labctl
TEST_LIST=$(mktemp)
trap 'rm -f "$TEST_LIST"' EXIT

BUILD_START=$(date +%s.%N)
if [ $BUILD = 1 ]; then
    export RUSTFLAGS=$VM_RUSTFLAGS
    say "building static binaries (cargo build --target $TARGET)"
    (cd "$REPO" && cargo build "${CARGO_CONFIG[@]}" "${CARGO_PACKAGES[@]}" --bins --target $TARGET) >&2 ||
        fail_early "cargo build failed"
    if [ $needs_tests = 1 ]; then
        say "building test binaries (cargo test --no-run --target $TARGET)"
        (cd "$REPO" && cargo test "${CARGO_CONFIG[@]}" "${CARGO_PACKAGES[@]}" --no-run --target $TARGET \
            --message-format=json-render-diagnostics) \
            >"$TEST_LIST.json" || fail_early "cargo test --no-run failed"
    fi
elif [ $needs_tests = 1 ]; then
    (cd "$REPO" && RUSTFLAGS=$VM_RUSTFLAGS cargo test "${CARGO_CONFIG[@]}" "${CARGO_PACKAGES[@]}" --no-run --offline \
        --target $TARGET --message-format=json-render-diagnostics) >"$TEST_LIST.json" 2>/dev/null ||
        fail_early "--no-build: the test binaries are not built (run once without --no-build)"
fi
BUILD_SECS=$(elapsed "$BUILD_START")
[ -x "$LABCTL" ] || fail_early "$LABCTL is missing (cargo build --target $TARGET)"
if ldd "$LABCTL" 2>/dev/null | grep -q '=>'; then
    fail_early "$LABCTL is dynamically linked; build with RUSTFLAGS='-C target-feature=+crt-static'"
fi

# Test executables as "kind name manifest_dir executable" lines.
if [ -f "$TEST_LIST.json" ]; then
    grep '"reason":"compiler-artifact"' "$TEST_LIST.json" | grep '"executable":"/' |
        grep -E '"profile":\{[^}]*"test":true' | while read -r line; do
        kind=$(grep -o '"kind":\["[^"]*"' <<<"$line" | head -1 | cut -d'"' -f4)
        pkg=$(grep -o '"package_id":"[^"]*"' <<<"$line" | cut -d'"' -f4 | sed -E 's/^.*\/([^/#]+)#[^@]*$/\1/; s/^.*#//; s/@.*$//')
        name=$(grep -o '"target":{[^}]*' <<<"$line" | grep -o '"name":"[^"]*"' | head -1 | cut -d'"' -f4)
        manifest=$(grep -o '"manifest_path":"[^"]*"' <<<"$line" | head -1 | cut -d'"' -f4)
        exe=$(grep -o '"executable":"[^"]*"' <<<"$line" | cut -d'"' -f4)
        echo "$kind $pkg/$name $(dirname "$manifest") $exe"
    done | sort -u >"$TEST_LIST"
    rm -f "$TEST_LIST.json"
fi

# ---- the image ------------------------------------------------------------------------------------

IMAGE_START=$(date +%s.%N)
IMG=$("$HERE/image.sh") || fail_early "building the VM image failed"
IMAGE_SECS=$(elapsed "$IMAGE_START")

# ---- the plan -------------------------------------------------------------------------------------

RES=$(mktemp -d "${TMPDIR:-/tmp}/labctl-vm.XXXXXX")
chmod 755 "$RES"
mkdir -p "$RES/plan" "$RES/out"
cat >"$RES/plan/config" <<EOF
REPO='$REPO'
TEST_TIMEOUT=$TEST_TIMEOUT
REPO_MODE=$([ "$SNAPSHOTS" = no ] && echo ro || echo rw)
EOF
cat >"$RES/plan/env.sh" <<EOF
export CI=true INSTA_UPDATE=$SNAPSHOTS INSTA_FORCE_PASS=0 INSTA_WORKSPACE_ROOT='$REPO'
export LABCTL_BIN='$LABCTL' LABCTL_VM=1
export NO_COLOR=1 TERM=dumb RUST_BACKTRACE=1 RUST_TEST_THREADS=1
export HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 SHELL=/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/bb
EOF

n=0
add_item() { # name, script body
    n=$((n + 1))
    local id
    id=$(printf '%03d' "$n")
    printf '%s %s\n' "$id" "$1" >>"$RES/plan/list"
    {
        echo ". /vm-results/plan/env.sh"
        echo "$2"
    } >"$RES/plan/$id.sh"
}
q() { printf '%q' "$1"; }

lab_ids() {
    local ids
    if ids=$("$LABCTL" list --ids 2>/dev/null) && [ -n "$ids" ]; then
        echo "$ids"
    else # older labctl without --ids: "  <mark> <id>  <title>" lines
        "$LABCTL" list 2>/dev/null | awk '/^  / && $2 ~ /^[a-z][a-z0-9-]*$/ { print $2 }'
    fi
}

add_test() { # kind package/target dir exe [filter]
    local label=test:$2 threads=1
    case $1 in lib) label=unit:${2%/*} ;; bin) label=unit:$2-bin ;; esac
    [ -z "${5:-}" ] || label="$label:$5"
    [[ " ${VM_PARALLEL_TESTS[*]} " == *" $2 "* ]] && threads=$VM_CPUS
    add_item "$label" "export CARGO_MANIFEST_DIR=$(q "$3") RUST_TEST_THREADS=$threads
cd $(q "$3") && exec $(q "$4") --test-threads=$threads ${5:+$(q "$5")}"
}

for s in "${SELECTORS[@]}"; do
    case $s in
        doctor) add_item doctor "cd $(q "$REPO") && exec \"\$LABCTL_BIN\" doctor" ;;
        labs)
            ids=$(lab_ids)
            [ -n "$ids" ] || fail_early "'$LABCTL list --ids' printed no labs"
            for id in $ids; do
                add_item "lab:$id" "cd $(q "$REPO") && exec \"\$LABCTL_BIN\" run $(q "$id") --yes --format plain --redact"
            done
            ;;
        lab:*)
            id=${s#lab:}
            add_item "lab:$id" "cd $(q "$REPO") && exec \"\$LABCTL_BIN\" run $(q "$id") --yes --format plain --redact"
            ;;
        tests | integration)
            [ -s "$TEST_LIST" ] || fail_early "no test executables found"
            while read -r kind name dir exe; do
                [ "$s" = tests ] || [ "$kind" = test ] || continue
                [[ " ${VM_HOST_ONLY_TESTS[*]} " == *" $name "* ]] && continue
                add_test "$kind" "$name" "$dir" "$exe"
            done <"$TEST_LIST"
            ;;
        test:*)
            spec=${s#test:}
            want=${spec%%:*}
            filter=
            [ "$spec" = "$want" ] || filter=${spec#*:}
            found=0
            while read -r kind name dir exe; do
                [ "$name" = "$want" ] || [ "${name#*/}" = "$want" ] || continue
                add_test "$kind" "$name" "$dir" "$exe" "$filter"
                found=1
            done <"$TEST_LIST"
            [ $found = 1 ] || die "no test executable named '$want' (known: $(cut -d' ' -f2 "$TEST_LIST" | sort -u | tr '\n' ' '))"
            ;;
        cmd:*) add_item "cmd:${s#cmd:}" "cd $(q "$REPO") && ${s#cmd:}" ;;
    esac
done
touch "$RES/plan/list"

# ---- accelerator ----------------------------------------------------------------------------------
# /dev/kvm may exist but be unusable (nested software KVM on which Debian kernels do not boot), so
# KVM is used only after a probe boot of this very image succeeded; the verdict is cached.

# shellcheck disable=SC2054 # commas belong to qemu's option syntax
TCG_ARGS=(-accel tcg,thread=multi,tb-size=256 -cpu "${LABCTL_VM_CPU_MODEL:-max}")
KVM_ARGS=(-accel kvm -cpu host)
KERNEL=$IMG/vmlinux
[ -f "$KERNEL" ] || KERNEL=$IMG/vmlinuz
BASE_ARGS=(-M pc -m "$VM_MEM" -smp "$VM_CPUS" -display none -nodefaults -no-reboot -serial stdio
    -kernel "$KERNEL" -initrd "$IMG/initrd.cpio"
    -drive "file=$IMG/root.ext4,format=raw,if=virtio,snapshot=on")
CMDLINE="console=ttyS0 loglevel=4 panic=-1 cgroup_no_v1=all random.trust_cpu=on rdinit=/init ${LABCTL_VM_CMDLINE:-}"

kvm_works() {
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
    local key verdict probe=$CACHE_ROOT/kvm.probe
    key="$(uname -r) $(qemu-system-x86_64 --version | head -1) $(cat "$IMG/kernel.package")"
    if [ -f "$probe" ] && [ "$(head -1 "$probe")" = "$key" ]; then
        verdict=$(sed -n 2p "$probe")
    else
        say "probing KVM with a test boot"
        (timeout -k 5 30 qemu-system-x86_64 "${KVM_ARGS[@]}" "${BASE_ARGS[@]}" \
            -append "console=ttyS0 loglevel=4 panic=-1 rdinit=/probe" </dev/null || true) >"$probe.log" 2>&1
        if grep -q LABCTL-VM-PROBE-OK "$probe.log"; then
            verdict=yes
        else
            verdict=no
        fi
        printf '%s\n%s\n' "$key" "$verdict" >"$probe"
    fi
    [ "$verdict" = yes ]
}

case $ACCEL in
    tcg) ACCEL_ARGS=("${TCG_ARGS[@]}") ;;
    kvm) ACCEL_ARGS=("${KVM_ARGS[@]}") ;;
    auto)
        if kvm_works; then
            ACCEL=kvm
            ACCEL_ARGS=("${KVM_ARGS[@]}")
        else
            ACCEL=tcg
            ACCEL_ARGS=("${TCG_ARGS[@]}")
        fi
        ;;
esac

# ---- boot -----------------------------------------------------------------------------------------

REPO_RO=,readonly=on
[ "$SNAPSHOTS" = no ] || REPO_RO=
# shellcheck disable=SC2054
SHARES=(-fsdev "local,id=repo,path=$REPO,security_model=none$REPO_RO"
    -device virtio-9p-pci,fsdev=repo,mount_tag=repo
    -fsdev "local,id=results,path=$RES,security_model=none"
    -device virtio-9p-pci,fsdev=results,mount_tag=results)
case $TARGET_DIR/ in
    "$REPO"/*) ;;
    *) fail_early "CARGO_TARGET_DIR ($TARGET_DIR) must be inside the repository, which is what the VM sees" ;;
esac

say "booting $(cat "$IMG/kernel.package") ($ACCEL, ${VM_MEM} MiB) with $(wc -l <"$RES/plan/list") item(s); serial log: $RES/serial.log"
VM_START=$(date +%s.%N)
set +e
if [ $VERBOSE = 1 ]; then
    timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 "${ACCEL_ARGS[@]}" "${BASE_ARGS[@]}" -append "$CMDLINE" \
        "${SHARES[@]}" </dev/null 2>&1 | tee "$RES/serial.log" >&2
    qemu_rc=${PIPESTATUS[0]}
else
    timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 "${ACCEL_ARGS[@]}" "${BASE_ARGS[@]}" -append "$CMDLINE" \
        "${SHARES[@]}" </dev/null >"$RES/serial.log" 2>&1
    qemu_rc=$?
fi
set -e
VM_SECS=$(elapsed "$VM_START")

# ---- results --------------------------------------------------------------------------------------

vm_problem=
if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
    vm_problem="the VM timed out after ${VM_TIMEOUT}s"
elif grep -q -e 'Kernel panic' -e 'end Kernel panic' "$RES/serial.log"; then
    vm_problem="the kernel panicked"
elif [ "$qemu_rc" != 0 ]; then
    vm_problem="qemu exited with status $qemu_rc"
elif [ ! -f "$RES/out/DONE" ]; then
    vm_problem="the VM stopped before finishing (no results/DONE)"
fi

passed=0
failed=0
printf '\n%-6s %7s  %s\n' RESULT SECS ITEM
row() { # verdict secs name
    printf '%-6s %7s  %s\n' "$1" "$2" "$3"
}
declare -A ran=()
if [ -f "$RES/out/summary.tsv" ]; then
    while IFS=$'\t' read -r id name rc secs; do
        ran[$id]=1
        if [ "$rc" = 0 ]; then
            passed=$((passed + 1))
            row PASS "$secs" "$name"
        else
            failed=$((failed + 1))
            row FAIL "$secs" "$name (exit $rc)"
        fi
    done <"$RES/out/summary.tsv"
fi
if [ -z "${ran[000]:-}" ]; then
    failed=$((failed + 1))
    row FAIL - "vm:boot ($vm_problem)"
fi
while read -r id name; do
    if [ -z "${ran[$id]:-}" ]; then
        failed=$((failed + 1))
        row FAIL - "$name (no result: ${vm_problem:-unknown})"
    fi
done <"$RES/plan/list"
if [ -n "$vm_problem" ] && [ -n "${ran[000]:-}" ] && [ -z "${ran[999]:-}" ]; then
    failed=$((failed + 1))
    row FAIL - "vm:finish ($vm_problem)"
fi

# Logs of what failed, then the serial tail when the VM itself misbehaved.
if [ -f "$RES/out/summary.tsv" ]; then
    while IFS=$'\t' read -r id name rc secs; do
        [ "$rc" != 0 ] || continue
        printf '\n---- %s (exit %s): last 60 lines of %s\n' "$name" "$rc" "$RES/out/$id.log"
        tail -n 60 "$RES/out/$id.log" 2>/dev/null || true
    done <"$RES/out/summary.tsv"
fi
if [ -n "$vm_problem" ]; then
    printf '\n---- %s; last 80 lines of the serial console (%s):\n' "$vm_problem" "$RES/serial.log"
    tail -n 80 "$RES/serial.log" | tr -d '\r'
fi

boot=$(cat "$RES/out/boot.secs" 2>/dev/null || echo '?')
inside='?'
[ -f "$RES/out/end.secs" ] && inside=$(awk -v a="$boot" -v b="$(cat "$RES/out/end.secs")" 'BEGIN { printf "%.1f", b - a }')
echo
say "$ACCEL: boot ${boot}s, items ${inside}s, VM wall ${VM_SECS}s; build ${BUILD_SECS}s, image ${IMAGE_SECS}s, total $(elapsed "$WALL_START")s; cache $(du -sh "$CACHE_ROOT" 2>/dev/null | cut -f1) in $CACHE_ROOT"
if [ $failed -gt 0 ] || [ $KEEP = 1 ]; then
    say "results kept in $RES"
else
    rm -rf "$RES"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
