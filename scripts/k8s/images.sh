#!/usr/bin/env bash
# Images of the local node, built on this machine (there is no registry to pull from):
#   localhost/kgadget/pause:local    the pod sandbox: scripts/k8s/node/pause.c, built static
#   localhost/kgadget/busybox:local  test workloads: Debian's busybox-static with its applet links;
#                                    like Docker's busybox, no entrypoint and the command sh, so
#                                    `kubectl run ... -- sh -c '...'` runs what it says; wget -T
#                                    no longer crashes (see patch_busybox_wget)
#   localhost/kubectl-gadget:dev     the gadget image: image/build-local.sh's OCI archive
#
#   scripts/k8s/images.sh build                   # pause + busybox archives (cached)
#   scripts/k8s/images.sh import [--gadget]       # build if needed, import into the node's
#                                                 # containerd (namespace k8s.io)
#   scripts/k8s/images.sh gadget [ARCHIVE]        # import the gadget archive (default:
#                                                 # build/image/kubectl-gadget.oci.tar, (re)built
#                                                 # with image/build-local.sh when missing or
#                                                 # older than dist/ and build/)
#   scripts/k8s/images.sh list                    # images in the node's containerd
#
# Archives are cached in $KGADGET_CACHE/k8s/images/, keyed by the content of their inputs.
# Import uses `ctr -n k8s.io -a <node containerd socket> images import`; pods refer to these
# names with imagePullPolicy Never or IfNotPresent.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

IMG_CACHE="$KGADGET_CACHE/k8s/images"
BUSYBOX_LAYOUT=4   # bump when the busybox rootfs or its config below changes
# Debian's busybox-static 1.35 is built without FEATURE_WGET_TIMEOUT, yet wget keeps -T in its
# getopt32 options as an integer option ("T:+") whose destination is NULL: any `wget -T N` stores
# N through a NULL pointer, SIGSEGV, exit 139 (Debian's 1:1.36.1-5 enables the feature). The
# image's copy gets the upstream fix's effect: "T:+t:n::" becomes "T:t:n:::", the same bytes
# shifted, so -T is a string option, which getopt32 skips for a NULL destination, and "n:::" means
# to getopt32 (and glibc's getopt) what "n::" did. -T N is then accepted and ignored.
WGET_OPTS_BAD='^cqSO:o:P:Y:U:T:+t:n::'
patch_busybox_wget() {
  local n
  n="$(grep -c -a -F -e "$WGET_OPTS_BAD" "$1" || true)"
  if [[ "$n" != 1 ]]; then
    log "busybox: wget's -T option string found $n times, not once: left as it is"
    return 0
  fi
  perl -0777 -pi -e 's/\^cqSO:o:P:Y:U:T:\+t:n::\x00/^cqSO:o:P:Y:U:T:t:n:::\x00/' "$1"
  ! grep -q -a -F -e "$WGET_OPTS_BAD" "$1" || die "busybox: patching wget's -T failed"
}
# image/build-local.sh's output (same variable)
GADGET_ARCHIVE_DEFAULT="${KGADGET_IMAGE_ARCHIVE:-$ROOT/build/image/kubectl-gadget.oci.tar}"

# build_image NAME TAG ROOTFS ENTRYPOINT_JSON CMD_JSON OUT : a one-layer image from ROOTFS into
# an OCI archive.
build_image() {
  local name="$1" tag="$2" rootfs="$3" entry="$4" cmd="$5" out="$6" c
  c="$(buildah from scratch)"
  # shellcheck disable=SC2064
  trap "buildah rm '$c' >/dev/null 2>&1 || true" RETURN
  buildah copy --quiet "$c" "$rootfs" / >/dev/null
  buildah config --entrypoint "$entry" --cmd "$cmd" --os linux --arch amd64 \
    --label org.opencontainers.image.title="$name" "$c" >/dev/null
  buildah commit --quiet "$c" "$tag" >/dev/null
  rm -f "$out.tmp"
  buildah push --quiet "$tag" "oci-archive:$out.tmp:$tag" >/dev/null
  buildah rmi "$tag" >/dev/null 2>&1 || true
  mv "$out.tmp" "$out"
}

build() {
  command -v buildah >/dev/null || die "buildah not found (apt-get install buildah)"
  mkdir -p "$IMG_CACHE"
  local t0 key work
  t0=$(now_ms)

  # pause: a static binary that holds the namespaces and reaps zombies
  key="$(cat "$SCRIPT_DIR/node/pause.c" | sha256sum | cut -c1-16)"
  if [[ ! -f "$IMG_CACHE/pause-$key.oci.tar" ]]; then
    command -v cc >/dev/null || die "cc not found (the pause binary is built from scripts/k8s/node/pause.c)"
    work="$(mktemp -d)"
    mkdir -p "$work/rootfs"
    cc -O2 -Wall -Werror -static -s -o "$work/rootfs/pause" "$SCRIPT_DIR/node/pause.c"
    build_image pause "$PAUSE_IMAGE" "$work/rootfs" '["/pause"]' '' "$IMG_CACHE/pause-$key.oci.tar"
    rm -rf "$work"
    log "built $PAUSE_IMAGE"
  fi
  ln -sf "pause-$key.oci.tar" "$IMG_CACHE/pause.oci.tar"

  # busybox: the static busybox and a link for each applet, /etc basics
  local bb
  bb="$(command -v busybox || true)"
  [[ -n "$bb" ]] && file -L "$bb" 2>/dev/null | grep -q 'statically linked' ||
    bb=/bin/busybox
  [[ -x "$bb" ]] || die "busybox not found (apt-get install busybox-static)"
  # the key changes with the binary and with the rootfs layout below (BUSYBOX_LAYOUT)
  key="$({ sha256sum < "$bb"; echo "$BUSYBOX_LAYOUT"; } | sha256sum | cut -c1-16)"
  if [[ ! -f "$IMG_CACHE/busybox-$key.oci.tar" ]]; then
    work="$(mktemp -d)"
    local r="$work/rootfs" a
    mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root" "$r/proc" "$r/sys" "$r/dev" "$r/var"
    chmod 1777 "$r/tmp"
    cp "$bb" "$r/bin/busybox"
    patch_busybox_wget "$r/bin/busybox"
    for a in $("$bb" --list); do [[ "$a" == busybox ]] || ln -s busybox "$r/bin/$a"; done
    ln -s bin "$r/sbin"
    mkdir -p "$r/usr"; ln -s ../bin "$r/usr/bin"; ln -s ../bin "$r/usr/sbin"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$r/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
    printf 'hosts: files dns\n' > "$r/etc/nsswitch.conf"
    printf '127.0.0.1 localhost\n::1 localhost\n' > "$r/etc/hosts"
    build_image busybox "$BUSYBOX_IMAGE" "$r" '[]' '["sh"]' "$IMG_CACHE/busybox-$key.oci.tar"
    rm -rf "$work"
    log "built $BUSYBOX_IMAGE"
  fi
  ln -sf "busybox-$key.oci.tar" "$IMG_CACHE/busybox.oci.tar"
  log "images ready in $(( $(now_ms) - t0 ))ms ($IMG_CACHE)"
}

ctr_node() {
  [[ -S "$NODE_CONTAINERD_SOCK" ]] || die "no containerd socket at $NODE_CONTAINERD_SOCK (start the node: scripts/k8s/up.sh --node)"
  ctr -n k8s.io -a "$NODE_CONTAINERD_SOCK" "$@"
}

# import_archive FILE NAME : import FILE, check that NAME is there afterwards.
import_archive() {
  local file="$1" name="$2" t0
  t0=$(now_ms)
  [[ -f "$file" ]] || die "no image archive $file"
  ctr_node images import "$file" >/dev/null 2>"$CLUSTER_DIR/logs/ctr-import.log" ||
    { cat "$CLUSTER_DIR/logs/ctr-import.log" >&2; die "ctr images import $file failed"; }
  local names
  names="$(ctr_node images ls -q)"
  grep -qxF "$name" <<< "$names" ||
    die "$file imported, but $name is not among the images: $(tr '\n' ' ' <<< "$names")"
  log "imported $name in $(( $(now_ms) - t0 ))ms"
}

# The build outputs the gadget image is made of (image/build-local.sh): a newer one makes the
# archive stale.
gadget_stale() {
  local archive="$1" newer
  [[ -f "$archive" ]] || return 0
  newer="$(find "$ROOT/dist/daemon" "$ROOT/dist/plugin" "$ROOT/dist/gadgets" "$ROOT/build/native" \
    "$ROOT/build/bpf" "$ROOT/build/gadgets" "$ROOT/package.json" "$ROOT/image/build-local.sh" \
    -newer "$archive" -type f -print -quit 2>/dev/null || true)"
  [[ -n "$newer" ]] && log "$archive is older than $newer"
  [[ -n "$newer" ]]
}

gadget() {
  local archive="${1:-$GADGET_ARCHIVE_DEFAULT}"
  if [[ "$archive" == "$GADGET_ARCHIVE_DEFAULT" ]] && gadget_stale "$archive"; then
    log "building $archive with image/build-local.sh"
    "$ROOT/image/build-local.sh" >&2
  fi
  [[ -f "$archive" ]] || die "no gadget image archive $archive"
  import_archive "$archive" "$GADGET_IMAGE"
}

cmd="${1:-import}"
shift || true
case "$cmd" in
  build) build ;;
  import)
    build
    import_archive "$IMG_CACHE/pause.oci.tar" "$PAUSE_IMAGE"
    import_archive "$IMG_CACHE/busybox.oci.tar" "$BUSYBOX_IMAGE"
    if [[ "${1:-}" == --gadget ]]; then gadget "${2:-}"; fi
    ;;
  gadget) gadget "${1:-}" ;;
  list) ctr_node images ls ;;
  *) die "usage: $0 build | import [--gadget [ARCHIVE]] | gadget [ARCHIVE] | list" ;;
esac
