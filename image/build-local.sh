#!/usr/bin/env bash
# Builds the kubectl-gadget image on this machine without a registry or a Docker engine, into an
# OCI archive. Same content as image/Containerfile (Node 20, libbpf, the built app under /app),
# but assembled from this machine's own node binary and the shared libraries it and the libbpf
# addon link against, instead of FROM node:20-bookworm-slim.
#
#   image/build-local.sh            -> build/image/kubectl-gadget.oci.tar (localhost/kubectl-gadget:dev)
#                                      and build/image/kubectl-gadget.oci.tar.json: tag, manifest
#                                      digest, image id, build id (deploy annotates the pod
#                                      template with the digest, so a rebuilt image rolls the pods)
#   podman load -i build/image/kubectl-gadget.oci.tar
#   ctr -n k8s.io -a SOCK images import --base-name localhost/kubectl-gadget build/image/kubectl-gadget.oci.tar
#
# Env: KGADGET_IMAGE (tag, default localhost/kubectl-gadget:dev), KGADGET_IMAGE_ARCHIVE (output),
#      KGADGET_IMAGE_KEEP=1 keeps the image in buildah/podman storage (default: only the archive).
# Needs: buildah, npm (prune, offline), ldd; runs `npm run build` when dist/ or build/ are missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TAG="${KGADGET_IMAGE:-localhost/kubectl-gadget:dev}"
OUT="${KGADGET_IMAGE_ARCHIVE:-$ROOT/build/image/kubectl-gadget.oci.tar}"
WORK="$ROOT/build/image"
BASE="$WORK/base"   # layer 1: node, its libraries, libbpf (changes rarely)
APP="$WORK/app"     # layer 2: /app
APP_DIR=/app

log() { printf '[image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
start=$(date +%s)

for tool in buildah npm ldd tar; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
# the node binary the image runs: this machine's Node 20
NODE_BIN="$(readlink -f "${NODE_BIN:-$(command -v node)}")"
node_major="$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" -ge 20 ]] || die "$NODE_BIN is Node $node_major; the image needs Node >= 20"

# ---- 1. build outputs
required=(
	dist/plugin/src/commands
	dist/daemon/src/main.js
	build/native/bpf_addon.node
	build/bpf/container_tracker.bpf.o
)
missing=0
for f in "${required[@]}"; do [[ -e "$f" ]] || missing=1; done
compgen -G 'build/gadgets/*.bpf.o' >/dev/null || missing=1
if [[ "$missing" == 1 ]]; then
	log "dist/ or build/ incomplete: running npm run build"
	npm run build >&2
fi
ADDON="$ROOT/build/native/bpf_addon.node"

rm -rf "$BASE" "$APP"
mkdir -p "$BASE" "$APP$APP_DIR" "$(dirname "$OUT")"

# ---- 2. base rootfs: Debian-like merged /usr, node, the shared libraries, /etc basics
(
	cd "$BASE"
	mkdir -p usr/bin usr/sbin usr/lib usr/lib64 usr/local/bin etc tmp root run proc sys dev var
	ln -s usr/bin bin
	ln -s usr/sbin sbin
	ln -s usr/lib lib
	ln -s usr/lib64 lib64
	chmod 1777 tmp
	chmod 0700 root
)
install -m 0755 "$NODE_BIN" "$BASE/usr/local/bin/node"
# bin/run.js starts with `#!/usr/bin/env node`
install -m 0755 "$(readlink -f /usr/bin/env)" "$BASE/usr/bin/env"

# every library ldd resolves for these, at the path ldd prints (plus the dynamic loader)
libs_of() {
	ldd "$1" | awk '
		$2 == "=>" && $3 ~ /^\// { print $3 }
		$1 ~ /^\// { print $1 }'
}
declare -A seen=()
for bin in "$NODE_BIN" /usr/bin/env "$ADDON"; do
	while read -r lib; do
		[[ -n "$lib" && -z "${seen[$lib]:-}" ]] || continue
		seen[$lib]=1
		mkdir -p "$BASE$(dirname "$lib")"
		cp -L "$lib" "$BASE$lib"
	done < <(libs_of "$bin")
done
for lib in libbpf.so.1 libelf.so.1 libz.so.1 libstdc++.so.6 libc.so.6; do
	compgen -G "$BASE/usr/lib/*/$lib" >/dev/null || die "$lib was not found by ldd"
done
# name lookups (libnss_files/dns are part of glibc >= 2.34's libc)
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$BASE/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$BASE/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$BASE/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$BASE/etc/hosts"
cp /etc/os-release "$BASE/etc/os-release" 2>/dev/null || true

# ---- 3. app: package files, bin/, dist/ (without tests, e2e, source maps), the runtime build
#      outputs, production node_modules
# oclif.manifest.json: help and the command list without loading every command (commands/index.ts)
cp package.json package-lock.json oclif.manifest.json "$APP$APP_DIR/"
cp -a bin "$APP$APP_DIR/bin"
tar -C "$ROOT" -cf - \
	--exclude='dist/e2e' --exclude='*.test.js' --exclude='*.map' --exclude='test-support' \
	dist | tar -C "$APP$APP_DIR" -xf -
mkdir -p "$APP$APP_DIR/build/native" "$APP$APP_DIR/build/bpf" "$APP$APP_DIR/build/gadgets"
cp "$ADDON" "$APP$APP_DIR/build/native/"
cp build/bpf/*.bpf.o "$APP$APP_DIR/build/bpf/"
cp build/gadgets/*.bpf.o build/gadgets/*.layout.json "$APP$APP_DIR/build/gadgets/"
cp -a node_modules "$APP$APP_DIR/node_modules"
log "pruning dev dependencies (offline)"
(cd "$APP$APP_DIR" && npm prune --omit=dev --offline --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
rm -rf "$APP$APP_DIR/node_modules/.cache" "$APP$APP_DIR/node_modules/.package-lock.json"
# what no program reads at run time: source maps and type declarations (about half the size)
find "$APP$APP_DIR/node_modules" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete
chmod 0755 "$APP$APP_DIR/bin/run.js"
# the build id `version` shows: stamped for this tree (the client) and copied into the image
build_id="$(bash "$ROOT/scripts/build-info.sh")"
cp "$ROOT/build/build-info.json" "$APP$APP_DIR/build/build-info.json"

# sanity: the staged app starts with the staged node and finds the addon's libraries
LD_LIBRARY_PATH="$BASE/usr/lib/x86_64-linux-gnu" "$BASE/usr/local/bin/node" "$APP$APP_DIR/bin/run.js" version >/dev/null ||
	die "the staged app does not start: $BASE/usr/local/bin/node $APP$APP_DIR/bin/run.js version"

# ---- 4. image: two layers (base, app), then the OCI archive
version="$(node -p 'require("./package.json").version')"
revision="$(node -p 'require("./build/build-info.json").commit')"
created="$(node -p 'require("./build/build-info.json").time')"
base_tag="localhost/kubectl-gadget-base:build-$$"
ctr=""
cleanup() {
	[[ -n "$ctr" ]] && buildah rm "$ctr" >/dev/null 2>&1 || true
	buildah rmi "$base_tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT

ctr="$(buildah from scratch)"
buildah copy --quiet "$ctr" "$BASE" / >/dev/null
buildah commit --quiet --rm "$ctr" "$base_tag" >/dev/null
ctr="$(buildah from "$base_tag")"
buildah copy --quiet "$ctr" "$APP" / >/dev/null
buildah config \
	--entrypoint "[\"$APP_DIR/bin/run.js\"]" \
	--cmd daemon \
	--workingdir "$APP_DIR" \
	--env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
	--env NODE_ENV=production \
	--label org.opencontainers.image.title=kubectl-gadget \
	--label org.opencontainers.image.version="$version" \
	--label org.opencontainers.image.revision="$revision" \
	--label org.opencontainers.image.created="$created" \
	--label io.kubectl-gadget.build-id="$build_id" \
	--label org.opencontainers.image.licenses=Apache-2.0 \
	--os linux --arch "$(node -p 'process.arch === "x64" ? "amd64" : process.arch')" \
	"$ctr"
image_id="$(buildah commit --quiet --rm "$ctr" "$TAG")"
ctr=""
# written beside and renamed: an import running meanwhile reads the old archive or the new one
rm -f "$OUT.tmp" "$OUT.digest"
buildah push --quiet --digestfile "$OUT.digest" "$TAG" "oci-archive:$OUT.tmp:$TAG" >/dev/null
mv "$OUT.tmp" "$OUT"
digest="$(cat "$OUT.digest")"
rm -f "$OUT.digest"
# what deploy reads (plugin/src/services/deploy/deploy.ts): which content this tag names now
printf '{"image":"%s","digest":"%s","id":"sha256:%s","buildId":"%s"}\n' \
	"$TAG" "$digest" "${image_id#sha256:}" "$build_id" >"$OUT.json.tmp"
mv "$OUT.json.tmp" "$OUT.json"
if [[ "${KGADGET_IMAGE_KEEP:-0}" != 1 ]]; then
	buildah rmi "$TAG" >/dev/null
fi
rm -rf "$BASE" "$APP"

size_base=$(du -sm "$OUT" | cut -f1)
log "$TAG -> ${OUT#"$ROOT"/} (${size_base} MB, $(($(date +%s) - start)) s, $digest, build $build_id)"
