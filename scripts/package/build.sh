#!/usr/bin/env bash
# npm run package: the krew archive for linux/amd64, a tarball that carries its own Node runtime
# (this machine's Node 20), the built app, its production node_modules, the BPF objects and a
# libbpf addon that finds libbpf, libelf and libz in the archive. Nothing is needed on the target
# but glibc >= 2.28 and libstdc++ (what the official Node 20 binary needs).
#
#   scripts/package/build.sh   -> build/package/kubectl-gadget-linux-amd64.tar.gz (+ .sha256)
#                                 build/package/gadget.yaml: image/krew/gadget.yaml with this
#                                 archive's sha256 (and KGADGET_PACKAGE_URI as its uri, if set)
#
# Archive layout (krew links kubectl-gadget onto PATH; every path is relative to the launcher):
#   kubectl-gadget            sh launcher: runtime/node app/bin/run.js "$@"
#   kubectl_complete-gadget   sh launcher of kubectl's plugin completion (completion install)
#   LICENSE                   Apache-2.0 (runtime/LICENSE: Node's)
#   runtime/node              the Node runtime (stripped)
#   app/                      package.json, oclif.manifest.json, bin/, dist/, node_modules/,
#                             build/{native,bpf,gadgets,build-info.json}; build/native/lib holds
#                             libbpf.so.1, libelf.so.1 and libz.so.1, found through the addon's
#                             DT_RPATH ($ORIGIN/lib)
#
# Why not a Node single executable: it would embed the same node binary (the weight is the same),
# then unpack the app on first run into a private folder, while oclif's command discovery, the
# gadget registry's folder scan and every import.meta.url-relative path already work from a plain
# directory tree; a tarball has no unpack step, so its cold start is the checkout's.
#
# Env: NODE_BIN (default: node on PATH), KGADGET_PACKAGE_URI (the manifest's uri), CC (gcc).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT_DIR="$ROOT/build/package"
NAME=kubectl-gadget-linux-amd64
STAGE="$OUT_DIR/stage"
ARCHIVE="$OUT_DIR/$NAME.tar.gz"
URI_DEFAULT="https://github.com/kubectl-gadget/kubectl-gadget/releases/download/v{version}/$NAME.tar.gz"

log() { printf '[package] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
start=$(date +%s)

[[ "$(uname -m)" == x86_64 ]] || die "builds linux/amd64 only (this machine is $(uname -m))"
for tool in npm tar gzip strip ldd "${CC:-gcc}"; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
NODE_BIN="$(readlink -f "${NODE_BIN:-$(command -v node)}")"
node_major="$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" == 20 ]] || die "$NODE_BIN is Node $node_major; the package bundles Node 20"
# an official-style node: one binary, nothing but libc/libstdc++/libgcc_s/libm/libdl/libpthread
if ldd "$NODE_BIN" | grep -Eq 'libnode|libuv|libssl|libcrypto|libicu'; then
	die "$NODE_BIN links shared Node libraries (a distribution build): use a nodejs.org or NodeSource binary (NODE_BIN=...)"
fi

# ---- 1. build outputs (npm run build when missing)
missing=0
for f in dist/plugin/src/commands/index.js dist/daemon/src/main.js dist/ui/app.js build/bpf/container_tracker.bpf.o \
	oclif.manifest.json build/build-info.json; do
	[[ -e "$f" ]] || missing=1
done
compgen -G 'build/gadgets/*.bpf.o' >/dev/null || missing=1
if [[ "$missing" == 1 ]]; then
	log "dist/ or build/ incomplete: running npm run build"
	npm run --silent build >&2
fi

rm -rf "$STAGE"
APP="$STAGE/app"
mkdir -p "$APP/build/native/lib" "$APP/build/bpf" "$APP/build/gadgets" "$STAGE/runtime"

# ---- 2. the addon, linked against the bundled libraries. DT_RPATH (not RUNPATH) so that libelf's
#      own libz.so.1 is found in lib/ too (glibc searches the loading chain's RPATH).
log "addon: daemon/native/*.c with RPATH \$ORIGIN/lib"
"${CC:-gcc}" -O2 -g0 -Wall -Wextra -Wno-unused-parameter -Werror -std=gnu11 -shared -fPIC \
	-fvisibility=hidden -I"${NODE_INCLUDE:-/usr/include/node}" daemon/native/*.c -lbpf -lpthread \
	-Wl,--disable-new-dtags,-rpath,'$ORIGIN/lib' -o "$APP/build/native/bpf_addon.node"
for lib in libbpf.so.1 libelf.so.1 libz.so.1; do
	path="$(ldd "$APP/build/native/bpf_addon.node" | awk -v l="$lib" '$1 == l { print $3 }')"
	[[ -f "$path" ]] || die "ldd does not resolve $lib for the addon"
	cp -L "$path" "$APP/build/native/lib/$lib"
	strip --strip-unneeded "$APP/build/native/lib/$lib"
done
# libelf must need nothing beyond what is bundled and libc
extra="$(ldd "$APP/build/native/lib/libelf.so.1" | awk '$2 == "=>" { print $1 }' | grep -Ev '^(libz\.so\.1|libc\.so\.6)$' || true)"
[[ -z "$extra" ]] || die "libelf.so.1 needs more libraries than bundled: $extra"

# ---- 3. the app (as image/build-local.sh stages /app)
cp package.json oclif.manifest.json "$APP/"
cp -a bin "$APP/bin"
tar -C "$ROOT" -cf - --exclude='dist/e2e' --exclude='*.test.js' --exclude='*.map' \
	--exclude='test-support' dist | tar -C "$APP" -xf -
cp build/bpf/*.bpf.o "$APP/build/bpf/"
cp build/gadgets/*.bpf.o build/gadgets/*.layout.json "$APP/build/gadgets/"
cp build/build-info.json "$APP/build/build-info.json"
log "node_modules: production dependencies only (npm prune --offline)"
cp package-lock.json "$APP/"
cp -al node_modules "$APP/node_modules" 2>/dev/null || cp -a node_modules "$APP/node_modules"
(cd "$APP" && npm prune --omit=dev --offline --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
rm -rf "$APP/node_modules/.cache" "$APP/node_modules/.package-lock.json" "$APP/package-lock.json"
# what nothing reads at run time (roughly half of node_modules)
find "$APP/node_modules" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' \
	-o -name '*.d.cts' -o -name '*.md' -o -name '*.markdown' -o -name '*.ts' \) \
	! -iname 'license*' -delete
# krew (v0.4.3) cannot unpack symlinks from a tar: node_modules/.bin holds the only ones
find "$APP/node_modules" -type d -name .bin -prune -exec rm -rf {} +
chmod 0755 "$APP/bin/"*

# ---- 4. runtime, launchers, licence
install -m 0755 "$NODE_BIN" "$STAGE/runtime/node"
strip "$STAGE/runtime/node"
node_license="$(dirname "$NODE_BIN")/../share/doc/nodejs/LICENSE"
[[ -f "$node_license" ]] || node_license=/usr/share/doc/nodejs/LICENSE
if [[ -f "$node_license" ]]; then cp "$node_license" "$STAGE/runtime/LICENSE"; else log "warning: Node's LICENSE not found"; fi
install -m 0644 image/krew/LICENSE "$STAGE/LICENSE"
install -m 0755 scripts/package/kubectl-gadget.sh "$STAGE/kubectl-gadget"
install -m 0755 scripts/package/kubectl_complete-gadget.sh "$STAGE/kubectl_complete-gadget"

links="$(find "$STAGE" -type l)"
[[ -z "$links" ]] || die "symlinks in the package (krew cannot unpack them): $links"

# sanity: the staged package starts with nothing from this machine's node or libbpf path
out="$(env -i PATH=/usr/bin:/bin HOME=/nonexistent "$STAGE/kubectl-gadget" version 2>&1)" ||
	die "the staged package does not start: $out"

# ---- 5. the archive: reproducible (sorted, owner 0, mtime of the commit)
mtime="$(git log -1 --format=%ct 2>/dev/null || date +%s)"
tar -C "$STAGE" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
	--format=gnu -cf - . | gzip -9n >"$ARCHIVE.tmp"
mv "$ARCHIVE.tmp" "$ARCHIVE"
sha="$(sha256sum "$ARCHIVE" | cut -d' ' -f1)"
echo "$sha  $NAME.tar.gz" >"$ARCHIVE.sha256"

# ---- 6. the manifest for this archive
version="$(node -p 'require("./package.json").version')"
uri="${KGADGET_PACKAGE_URI:-${URI_DEFAULT//\{version\}/$version}}"
sed -e "s|^  version: .*|  version: v$version|" \
	-e "s|^\\( *\\)uri: .*|\\1uri: $uri|" \
	-e "s|^\\( *\\)sha256: .*|\\1sha256: \"$sha\"|" image/krew/gadget.yaml >"$OUT_DIR/gadget.yaml"

unpacked=$(du -sm "$STAGE" | cut -f1)
packed=$(($(stat -c %s "$ARCHIVE") / 1024 / 1024))
log "$ARCHIVE: ${packed} MiB ($(stat -c %s "$ARCHIVE") bytes; ${unpacked} MiB unpacked: runtime $(du -sm "$STAGE/runtime" | cut -f1), node_modules $(du -sm "$APP/node_modules" | cut -f1), dist $(du -sm "$APP/dist" | cut -f1), build $(du -sm "$APP/build" | cut -f1)), sha256 $sha, $(($(date +%s) - start)) s"
echo "$ARCHIVE"
