#!/usr/bin/env bash
# The main job end to end, on a fresh machine: install what is needed, start the bundled registry on
# 127.0.0.1 with local storage, build testdata/demo FROM a busybox base, push it, pull it back into an
# empty store, and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/ensure-node-modules.sh

demo=${TSBUILD_DEMO_DIR:-$PWD/.tsbuild-demo}
rm -rf "$demo"
mkdir -p "$demo"
tsbuild() { bin/tsbuild "$@"; }

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "making the busybox base image (OCI layout) from Debian's busybox-static"
bash testdata/make-busybox-image.sh "$demo/busybox-layout" >/dev/null

step "starting the bundled registry on 127.0.0.1 (storage: $demo/registry)"
tsbuild registry serve --addr 127.0.0.1:0 --root "$demo/registry" > "$demo/registry.log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null; wait $registry_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q 'listening on' "$demo/registry.log" 2>/dev/null && break
  kill -0 $registry_pid 2>/dev/null || { cat "$demo/registry.log"; exit 1; }
  sleep 0.1
done
registry=$(sed -n 's#.*listening on http://\([^ "]*\).*#\1#p' "$demo/registry.log" | head -1)
[ -n "$registry" ] || { echo "registry did not start:"; cat "$demo/registry.log"; exit 1; }
echo "registry at $registry"

step "pushing the base image to $registry/library/busybox:latest"
tsbuild copy "oci:$demo/busybox-layout:latest" "$registry/library/busybox:latest"

step "building $registry/demo/hello:latest from testdata/demo"
tsbuild --root "$demo/build-store" build --progress plain \
  --build-arg "BASE=$registry/library/busybox:latest" -t "$registry/demo/hello:latest" testdata/demo

step "pushing it"
tsbuild --root "$demo/build-store" push "$registry/demo/hello:latest"

step "pulling it back into an empty store"
tsbuild --root "$demo/pull-store" pull "$registry/demo/hello:latest"
tsbuild --root "$demo/pull-store" images

step "running it"
tsbuild --root "$demo/pull-store" run --rm "$registry/demo/hello:latest"
