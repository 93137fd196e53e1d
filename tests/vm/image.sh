#!/usr/bin/env bash
# Builds (once) and caches the course-VM image: Debian's stock kernel and an initrd holding busybox,
# the host's real tools with their libraries, the kernel modules the labs need, and the guest init.
#
# Usage: tests/vm/image.sh            prints the cache directory (vmlinux, initrd.cpio, kernel.version)
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/labctl-vm/<kernel-version>_<package-version>-<script-hash>/
# The hash covers this script, config.sh, init, guest.sh and the identity (size, mtime) of every host
# tool copied in, so upgrading a host tool or editing the harness rebuilds the initrd. Older entries
# are pruned. Nothing is installed on the host and nothing is written inside the checkout.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/config.sh
. "$HERE/config.sh"

CACHE_ROOT=${LABCTL_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/labctl-vm}

say() { echo "vm-image: $*" >&2; }
die() {
    echo "vm-image: error: $*" >&2
    exit 1
}

need_cmd() { # command apt-package
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found: apt-get install $2"
}

# ---- which kernel --------------------------------------------------------------------------------

# Prints "package version" of the kernel the meta package depends on, e.g.
# "linux-image-6.1.0-56-amd64 6.1.192-2". apt-cache takes ~1 s where its binary cache is not kept
# (Debian container images), so the answer is remembered until the apt lists change.
kernel_package() {
    local stamp memo=$CACHE_ROOT/kernel.resolved answer
    stamp="$VM_KERNEL_META $(stat -c '%n %Y %s' /var/lib/apt/lists/*Packages* 2>/dev/null | sha256sum | cut -c1-16)"
    if [ -f "$memo" ] && [ "$(head -1 "$memo")" = "$stamp" ]; then
        sed -n 2p "$memo"
        return
    fi
    answer=$(apt-cache show --no-all-versions "$VM_KERNEL_META" 2>/dev/null |
        awk '/^Depends:/ { if (match($0, /linux-image-[0-9][^ ,]*[ ]*\(= [^)]*\)/)) {
                  dep = substr($0, RSTART, RLENGTH); gsub(/[()=]/, "", dep); split(dep, f, " ");
                  print f[1], f[2]; exit } }')
    [ -n "$answer" ] || die "apt-cache does not know $VM_KERNEL_META's kernel: run apt-get update"
    mkdir -p "$CACHE_ROOT"
    printf '%s\n%s\n' "$stamp" "$answer" >"$memo"
    echo "$answer"
}

# ---- host tools -----------------------------------------------------------------------------------

# Prints the absolute path of every tool to copy; dies naming the apt package of a missing required one.
tool_paths() {
    local entry tool pkg p
    for entry in "${VM_REQUIRED_TOOLS[@]}"; do
        tool=${entry%%:*}
        pkg=${entry#*:}
        p=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v "$tool") ||
            die "host tool '$tool' not found (the VM copies it from the host): apt-get install $pkg"
        echo "$p"
    done
    for tool in "${VM_OPTIONAL_TOOLS[@]}"; do
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v "$tool" || true
    done
}


# The programs (under bin/ and sbin/) of the installed VM_HOST_PACKAGES.
package_programs() {
    local pkg
    for pkg in "${VM_HOST_PACKAGES[@]}"; do
        dpkg -L "$pkg" 2>/dev/null | grep -E '^/(usr/)?s?bin/[^/]+$' || true
    done | sort -u
}

busybox_path() {
    local p
    for p in /usr/bin/busybox /bin/busybox; do
        if [ -x "$p" ] && ! ldd "$p" 2>/dev/null | grep -q '=>'; then
            echo "$p"
            return
        fi
    done
    die "a static busybox is needed: apt-get install busybox-static"
}

script_hash() {
    {
        cat "$HERE/image.sh" "$HERE/config.sh" "$HERE/init" "$HERE/guest.sh"
        echo "${VM_BOOT_MODULES[*]} | ${VM_OPTIONAL_TOOLS[*]}"
        dpkg-query -W -f '${Package} ${Version}\n' "${VM_HOST_PACKAGES[@]}" 2>/dev/null || true
        local p
        for p in $(tool_paths) "$(busybox_path)"; do
            stat -L -c '%n %s %Y' "$p"
        done
    } | sha256sum | cut -c1-12
}

# ---- copying into the initrd tree ---------------------------------------------------------------

ROOT= # the initrd tree being built

# Copies one host path into $ROOT at the same place, recreating symlinks (whole chains) as symlinks
# and pulling in the shared libraries of ELF files.
copy_path() {
    local p=$1 dir base full target
    [ -e "$p" ] || [ -L "$p" ] || return 0
    dir=$(realpath "$(dirname "$p")")
    base=$(basename "$p")
    full=$dir/$base
    [ -e "$ROOT$full" ] || [ -L "$ROOT$full" ] && return 0
    mkdir -p "$ROOT$dir"
    if [ -L "$full" ]; then
        target=$(readlink "$full")
        ln -s "$target" "$ROOT$full"
        case $target in
            /*) copy_path "$target" ;;
            *) copy_path "$dir/$target" ;;
        esac
    elif [ -d "$full" ]; then
        local entry
        mkdir -p "$ROOT$full"
        for entry in "$full"/* "$full"/.[!.]*; do
            copy_path "$entry"
        done
    else
        cp -p "$full" "$ROOT$full"
        copy_libs "$full"
    fi
}

copy_libs() {
    local lib
    [ "$(head -c4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ] || return 0
    ldd "$1" >/dev/null 2>&1 || return 0 # static
    for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
        copy_path "$lib"
    done
}

# ---- kernel -------------------------------------------------------------------------------------

# Extracts the uncompressed ELF vmlinux from a bzImage (what scripts/extract-vmlinux does), so QEMU
# can boot it through its PVH entry point and skip the slow in-guest decompression under TCG.
extract_vmlinux() {
    local z=$1 out=$2 magic off
    for magic in '\xfd7zXZ\x00:xz -dc' '\x1f\x8b\x08:gzip -dc' '\x28\xb5\x2f\xfd:zstd -dc' '\x02\x21\x4c\x18:lz4 -dc'; do
        for off in $(LC_ALL=C grep -obUaP "${magic%%:*}" "$z" | cut -d: -f1); do
            tail -c +$((off + 1)) "$z" | ${magic#*:} >"$out" 2>/dev/null || true
            if [ "$(head -c4 "$out" | od -An -c | tr -d ' ')" = '177ELF' ]; then
                return 0
            fi
        done
    done
    rm -f "$out"
    return 1
}

# Module paths (relative to /lib/modules/<kver>) needed: the named modules, every module under the
# configured directories, and all their dependencies including soft ones (libcrc32c needs crc32c),
# as modprobe resolves them against the unpacked tree.
module_closure() {
    local base=$1 kver=$2 moddir=$1/lib/modules/$2
    {
        printf '%s\n' "${VM_BOOT_MODULES[@]}" "${VM_EXTRA_MODULES[@]}"
        awk -v dirs="${VM_MODULE_DIRS[*]}" '
            BEGIN { nd = split(dirs, d, " ") }
            {
                path = $1; sub(":$", "", path)
                for (i = 1; i <= nd; i++) if (index(path, d[i] "/") == 1) {
                    name = path; sub(".*/", "", name); sub("\\.ko.*$", "", name); print name
                }
            }' "$moddir/modules.dep"
    } | sort -u | xargs modprobe -d "$base" -S "$kver" --show-depends -a 2>/dev/null |
        awk -v prefix="$moddir/" '$1 == "insmod" && index($2, prefix) == 1 { print substr($2, length(prefix) + 1) }' | sort -u
}

build_image() {
    local out=$1 pkg=$2 ver=$3 kver=$4
    local work=$out/work
    mkdir -p "$work" "$CACHE_ROOT/debs"

    local deb
    deb=$(ls "$CACHE_ROOT/debs/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -1 || true)
    if [ -z "$deb" ]; then
        say "downloading $pkg $ver"
        (cd "$CACHE_ROOT/debs" && apt-get download -q "$pkg=$ver" >&2 2>/dev/null) ||
            (cd "$CACHE_ROOT/debs" && apt-get download "$pkg=$ver" >&2) ||
            die "apt-get download $pkg=$ver failed"
        deb=$(ls "$CACHE_ROOT"/debs/"${pkg}"_*.deb | head -1)
    fi
    say "unpacking $(basename "$deb")"
    dpkg-deb -x "$deb" "$work/pkg"
    local moddir=$work/pkg/lib/modules/$kver
    [ -d "$moddir" ] || moddir=$work/pkg/usr/lib/modules/$kver
    [ -f "$work/pkg/boot/vmlinuz-$kver" ] || die "no /boot/vmlinuz-$kver in $deb"

    if extract_vmlinux "$work/pkg/boot/vmlinuz-$kver" "$out/vmlinux"; then
        say "extracted vmlinux (PVH boot)"
    else
        say "could not extract vmlinux; booting the compressed bzImage (slower under TCG)"
        cp "$work/pkg/boot/vmlinuz-$kver" "$out/vmlinuz"
    fi
    cp "$work/pkg/boot/config-$kver" "$out/config"

    local base
    base=$(dirname "$(dirname "$(dirname "$moddir")")")
    depmod -b "$base" "$kver"

    ROOT=$work/root
    mkdir -p "$ROOT"
    local d
    for d in bin sbin lib lib64; do # mirror the host's merged-/usr layout
        if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$ROOT/$d"; fi
    done
    mkdir -p "$ROOT"/usr/{bin,sbin,lib,lib64} "$ROOT"/{bin,sbin,lib,lib64}/ \
        "$ROOT"/{proc,sys,dev,run,tmp,root,etc,bb,vm,vm-results,var/lib,var/tmp,mnt,home}
    chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"

    # kernel modules
    local kroot=$ROOT/usr/lib/modules/$kver m count=0
    mkdir -p "$kroot"
    for m in $(module_closure "$base" "$kver"); do
        mkdir -p "$kroot/$(dirname "$m")"
        cp "$moddir/$m" "$kroot/$m"
        count=$((count + 1))
    done
    cp "$moddir"/modules.{builtin,builtin.modinfo,order} "$kroot/"
    depmod -b "$ROOT/usr" "$kver" 2>/dev/null || depmod -b "$ROOT" "$kver"
    say "copied $count kernel modules"

    # busybox where the host has it (labs import it into images), its applets in /bb (last in PATH),
    # and the host's real tools
    local bb
    bb=$(realpath "$(busybox_path)")
    copy_path "$bb"
    ln -s "$bb" "$ROOT/bb/busybox"
    local applet
    for applet in $("$ROOT/bb/busybox" --list); do
        [ "$applet" = busybox ] || ln -s busybox "$ROOT/bb/$applet"
    done
    local p
    for p in $(tool_paths) $(package_programs) "${VM_EXTRA_FILES[@]}"; do
        copy_path "$p"
    done

    # a minimal /etc
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$ROOT/etc/passwd"
    printf 'root:x:0:\nshadow:x:42:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
    printf 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' >"$ROOT/etc/shadow"
    chgrp 42 "$ROOT/etc/shadow" 2>/dev/null || true
    chmod 640 "$ROOT/etc/shadow"
    printf '127.0.0.1 localhost labctl-vm\n::1 localhost\n' >"$ROOT/etc/hosts"
    echo labctl-vm >"$ROOT/etc/hostname"
    : >"$ROOT/etc/fstab"
    ln -sf /proc/self/mounts "$ROOT/etc/mtab"
    printf '::sysinit:/vm/guest.sh\n::wait:/bb/poweroff -f\n' >"$ROOT/etc/inittab"
    printf '%s\n' "${VM_BOOT_MODULES[@]}" >"$ROOT/vm/modules"
    echo "$kver" >"$ROOT/vm/kernel.version"
    install -m 0755 "$HERE/guest.sh" "$ROOT/vm/guest.sh"

    # The root filesystem: ext4, like a course VM's disk (so /var/lib/labctl and /tmp are on ext4,
    # and pivot_root works). Booted with snapshot=on: every run starts from this pristine image and
    # its writes are thrown away. The file is sparse; free space is for the labs and tests.
    local size
    size=$(($(du -sm "$ROOT" | cut -f1) + ${LABCTL_VM_DISK_FREE_MB:-2048}))
    mkfs.ext4 -q -F -L vmroot -d "$ROOT" "$out/root.ext4" "${size}M" || die "mkfs.ext4 -d failed"

    # The initrd only loads what mounting that disk needs and switches to it: a small uncompressed
    # cpio (nothing for the guest to decompress under TCG).
    local initrd=$work/initrd ko
    mkdir -p "$initrd"/{bb,dev,proc,newroot,ko}
    cp "$bb" "$initrd/bb/busybox"
    : >"$initrd/load.list"
    for ko in $(modprobe -d "$base" -S "$kver" --show-depends -a virtio_pci virtio_blk ext4 |
        awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
        cp "$ko" "$initrd/ko/"
        echo "/ko/$(basename "$ko")" >>"$initrd/load.list"
    done
    install -m 0755 "$HERE/init" "$initrd/init"
    printf '#!/bb/busybox sh\n/bb/busybox mount -t devtmpfs devtmpfs /dev\necho LABCTL-VM-PROBE-OK >/dev/console\n/bb/busybox poweroff -f\n' >"$initrd/probe"
    chmod 755 "$initrd/probe"
    (cd "$initrd" && find . -mindepth 1 | LC_ALL=C sort | "$initrd/bb/busybox" cpio -o -H newc 2>/dev/null) >"$out/initrd.cpio"
    echo "$kver" >"$out/kernel.version"
    echo "$pkg $ver" >"$out/kernel.package"
    rm -rf "$work"
}

main() {
    need_cmd apt-get apt
    need_cmd dpkg-deb dpkg
    need_cmd depmod kmod
    need_cmd xz xz-utils
    need_cmd mkfs.ext4 e2fsprogs
    need_cmd ldd libc-bin

    local pkg ver kver hash dir
    tool_paths >/dev/null # dies naming the apt package of a missing tool
    busybox_path >/dev/null
    read -r pkg ver <<<"$(kernel_package)"
    [ -n "$ver" ] || die "no version known for $VM_KERNEL_META's kernel: run apt-get update"
    kver=${pkg#linux-image-}
    hash=$(script_hash)
    dir=$CACHE_ROOT/${kver}_${ver}-${hash}
    if [ -f "$dir/ready" ]; then
        echo "$dir"
        return
    fi

    mkdir -p "$CACHE_ROOT"
    exec 9>"$CACHE_ROOT/.lock"
    flock 9
    if [ ! -f "$dir/ready" ]; then
        say "building $dir"
        local start=$SECONDS
        rm -rf "$dir.tmp"
        mkdir -p "$dir.tmp"
        build_image "$dir.tmp" "$pkg" "$ver" "$kver" >&2
        touch "$dir.tmp/ready"
        rm -rf "$dir"
        mv "$dir.tmp" "$dir"
        # prune older images and kernel packages
        local old
        for old in "$CACHE_ROOT"/*; do
            case $old in
                "$dir" | "$CACHE_ROOT/debs" | "$CACHE_ROOT"/kvm.probe | "$CACHE_ROOT"/kernel.resolved) ;;
                *) rm -rf "$old" ;;
            esac
        done
        for old in "$CACHE_ROOT"/debs/*.deb; do
            case $(basename "$old") in "${pkg}_"*) ;; *) rm -f "$old" ;; esac
        done
        say "built in $((SECONDS - start)) s ($(du -sh "$dir" | cut -f1); kernel package cache $(du -sh "$CACHE_ROOT/debs" | cut -f1))"
    fi
    echo "$dir"
}

main "$@"
