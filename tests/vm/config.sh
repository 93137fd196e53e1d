# shellcheck shell=bash disable=SC2034,SC2206
# Configuration of the course-VM harness, sourced by run.sh and image.sh.
# Changing this file changes the cache key, so the next run rebuilds the initrd.

# The Debian meta package whose dependency names the kernel we boot (bookworm: linux-image-6.1.0-NN-amd64).
VM_KERNEL_META=${LABCTL_VM_KERNEL_META:-linux-image-amd64}

# Kernel modules the VM loads at boot (with their dependencies): only what the 9p shares need. Every
# other module is autoloaded by the kernel through /sbin/modprobe when a lab first uses it (mount -t
# overlay, ip link add type bridge/veth, nft, iptables), as on a fresh course VM; br_netfilter, which
# nothing autoloads, must be modprobed by whoever needs it (as Docker does). Each module costs ~0.1 s
# of boot under TCG.
VM_BOOT_MODULES=(virtio_pci 9pnet_virtio 9p ${LABCTL_VM_PRELOAD:-})
# Modules copied into the initrd (with dependencies) for loading on demand.
VM_EXTRA_MODULES=(
    overlay bridge veth br_netfilter dummy macvlan ipvlan vxlan tun af_packet
    xt_comment xt_multiport xt_mark
    nf_tables nft_chain_nat nft_masq nft_nat nft_ct nft_compat nf_nat nf_conntrack
    ip_tables iptable_filter iptable_nat xt_MASQUERADE xt_conntrack xt_addrtype xt_nat
)
# Kernel module trees copied whole (plus dependencies) so that nft/iptables can autoload any
# match or target through /sbin/modprobe, as on a real course VM.
VM_MODULE_DIRS=(
    kernel/net/netfilter kernel/net/ipv4/netfilter kernel/net/ipv6/netfilter kernel/net/bridge
)

# Host tools copied into the initrd with their shared libraries (ldd). A missing required tool is an
# error naming its apt package; optional ones are copied when present. Busybox applets come last in
# PATH, so they never shadow these.
VM_REQUIRED_TOOLS=(
    "ip:iproute2" "bridge:iproute2" "ss:iproute2"
    "unshare:util-linux" "nsenter:util-linux" "lsns:util-linux" "setpriv:util-linux"
    "pivot_root:util-linux" "findmnt:util-linux" "mount:mount" "umount:mount"
    "nft:nftables" "iptables:iptables" "iptables-save:iptables" "iptables-restore:iptables"
    "ip6tables:iptables" "iptables-legacy:iptables" "iptables-nft:iptables"
    "kmod:kmod" "modprobe:kmod" "insmod:kmod" "lsmod:kmod" "rmmod:kmod" "depmod:kmod"
    "tar:tar" "tmux:tmux" "sh:dash" "bash:bash" "ps:procps" "chroot:coreutils" "env:coreutils" "ldd:libc-bin"
)
VM_OPTIONAL_TOOLS=(umoci skopeo docker-registry ping ${LABCTL_VM_EXTRA_TOOLS:-})
# Every program of these host packages is copied too (those installed), so the VM has the GNU
# userland a course VM has (tests run `head -c 100M`, labs import /usr/bin/ls with its libraries).
VM_HOST_PACKAGES=(
    coreutils grep sed findutils mawk gzip procps psmisc util-linux bsdutils mount iproute2
    nftables iptables kmod tar dash bash libc-bin iputils-ping
)
# Extra host files and directories copied as they are (missing ones are ignored).
VM_EXTRA_FILES=(
    /etc/protocols /etc/services /etc/ethertypes /etc/iproute2 /usr/share/iproute2
    /usr/lib/x86_64-linux-gnu/xtables /etc/nsswitch.conf /etc/containers /etc/docker
    /etc/os-release /usr/lib/os-release /etc/debian_version /etc/subuid /etc/subgid
    /usr/lib/cni /lib/terminfo /usr/share/terminfo /usr/lib/locale/C.utf8
)

# Test executables that run on the host only. Judges: the real tools (runtime-tools built with Go,
# podman, containerd, buildah) are not part of a course VM. labctl/interactive: its prompts and
# menus do not depend on the cgroup world.
VM_HOST_ONLY_TESTS=(labruntime/judges labimage/judges labctl/interactive)

# Test executables whose tests may run side by side (each test in its own network namespace and
# state directories, checking only its own leftovers; on the host cargo runs them in parallel too):
# inside the VM they get one test thread per vCPU, every other executable one thread.
VM_PARALLEL_TESTS=(labcontainer/engine)

# What runs inside the VM when no selectors are given (see run.sh --help).
# `tests` includes test:labctl/labs, which runs every lab walkthrough (--yes --redact) and compares
# it with its snapshot: running the labs again on their own would only double the time.
VM_DEFAULT_RUN=${LABCTL_VM_RUN:-"doctor tests"}

# How the VM's static binaries are built. scripts/test-all.sh runs the host's tests with the very
# same flags, so one build serves both (a second full build costs ~6 minutes on 2 cores).
# Dependencies are optimised (sha256, gzip, tar run ~7x faster under TCG; compiled once, so warm
# builds do not pay for it), our crates stay unoptimised with debug assertions, and line tables are
# enough for backtraces (binaries a quarter of the size, faster to link and to read over 9p).
VM_CARGO_TARGET=x86_64-unknown-linux-gnu
VM_RUSTFLAGS='-C target-feature=+crt-static'
VM_CARGO_CONFIG=(--config 'profile.dev.package."*".opt-level=2' --config 'profile.dev.debug="line-tables-only"')
