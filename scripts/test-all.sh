#!/usr/bin/env bash
# Every check labctl has, on a fresh Debian/Ubuntu machine, as root:
# installs what the tests need when it is missing, then formatting, lints, unit and root
# integration tests (every lab's reference transcript on this machine's cgroup world),
# the maintainer check, both books, and the same labs inside a pure cgroup v2 course VM.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "scripts/test-all.sh needs root (the labs create namespaces, cgroups and mounts): try sudo $0" >&2
  exit 1
fi

# Debian packages the tests and labs use (real tools serve as judges: ip, lsns, nsenter, umoci, skopeo).
packages=(iproute2 util-linux mount procps psmisc kmod nftables iptables busybox-static qemu-system-x86
          e2fsprogs xz-utils dash bash coreutils tar umoci skopeo docker-registry buildah
          containernetworking-plugins runc crun podman conmon netavark aardvark-dns containerd golang-go tmux)
# npm (for Pagefind) by its command: a machine may have Node.js from elsewhere, npm bundled.
command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export PATH="$HOME/.cargo/bin:$PATH"
START=$SECONDS
stage() { echo "== [$((SECONDS - START)) s] $*"; }

# Tools that take minutes to fetch or build (mdbook from source, Pagefind from npm, the course VM's
# kernel and initrd) are made in the background while the lints and tests build; each is waited
# for where it is first needed, and a failure shows its log.
LOGS=$(mktemp -d)
BACKGROUND=()
trap 'for p in "${BACKGROUND[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$LOGS"' EXIT
in_background() { # name command...: starts it, its pid in BG_<name>
  local name=$1
  shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  BACKGROUND+=($!)
  printf -v "BG_$name" '%s' $!
}
wait_for() { # name what
  local pid_var=BG_$1
  [ -n "${!pid_var:-}" ] || return 0
  if ! wait "${!pid_var}"; then
    echo "$2 failed:" >&2
    cat "$LOGS/$1.log" >&2
    exit 1
  fi
}

MDBOOK_VERSION=0.4.40
if ! mdbook --version 2>/dev/null | grep -q "v$MDBOOK_VERSION"; then
  stage "installing mdbook $MDBOOK_VERSION (in the background)"
  in_background mdbook cargo install --quiet --locked mdbook --version "$MDBOOK_VERSION"
fi
# Pagefind indexes each built book (it segments Chinese; mdBook's own search does not): from npm, into a
# cache outside the checkout, keyed by version.
PAGEFIND_VERSION=1.6.0
pagefind_dir=$HOME/.cache/labctl-tools/pagefind-$PAGEFIND_VERSION
pagefind=$pagefind_dir/node_modules/.bin/pagefind
if ! "$pagefind" --version 2>/dev/null | grep -qx "pagefind $PAGEFIND_VERSION"; then
  stage "installing pagefind $PAGEFIND_VERSION (in the background)"
  in_background pagefind npm install --silent --no-audit --no-fund --prefix "$pagefind_dir" "pagefind@$PAGEFIND_VERSION"
fi
stage "course VM image (in the background; cached by kernel version)"
in_background vm_image tests/vm/image.sh

stage "cargo fmt --check"
cargo fmt --all --check
stage "cargo clippy"
cargo clippy --quiet --workspace --all-targets -- -D warnings
# The host's tests use the course VM's static build (same target, RUSTFLAGS and profile tweaks,
# from tests/vm/config.sh): one build serves both, and the host runs what the VM runs.
# shellcheck source=tests/vm/config.sh
. tests/vm/config.sh
export RUSTFLAGS=$VM_RUSTFLAGS
export LABCTL_BIN=$PWD/target/$VM_CARGO_TARGET/debug/labctl
stage "cargo test (unit + root integration tests + every lab's reference transcript)"
CI=true cargo test --workspace --target "$VM_CARGO_TARGET" "${VM_CARGO_CONFIG[@]}"
stage "labctl dev check"
"$LABCTL_BIN" dev check
wait_for mdbook "installing mdbook $MDBOOK_VERSION"
stage "mdbook build"
for lang in en zh; do
  mdbook build --dest-dir "$PWD/target/book/$lang" "book/$lang"
done
wait_for pagefind "installing pagefind $PAGEFIND_VERSION"
stage "book search (Pagefind)"
for lang in en zh; do
  # Every page but print.html (the whole book again) and 404.html.
  "$pagefind" --site "$PWD/target/book/$lang" --glob '{{[!p4]*,p[!r]*}.html,**/*/*.html}' >/dev/null
done
search_finds() { # BOOK QUERY PAGE: PAGE is among the first three results
  local found
  found=$(node scripts/book-search.mjs "target/book/$1" "$2" | head -3) || true
  if ! grep -qx "/$3" <<<"$found"; then
    printf 'book search: "%s" in the %s book does not find %s in its first three results:\n%s\n' "$2" "$1" "$3" "$found" >&2
    exit 1
  fi
}
search_finds zh 网络 labs/ns-net.html
search_finds en "network namespace" labs/ns-net.html
wait_for vm_image "building the course VM image"
stage "course VM (pure cgroup v2): doctor and every test binary, inside Debian's kernel under QEMU"
# The host's test run built the very binaries the VM runs (same target and flags).
env -u LABCTL_BIN tests/vm/run.sh --no-build
stage "leak check"
"$LABCTL_BIN" clean --check
