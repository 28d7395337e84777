#!/usr/bin/env bash
# Installs the Debian packages tsbuild and its tests use: runc (and crun) for RUN, busybox-static
# for the test base image, skopeo, docker-registry, umoci and podman as real peers, buildah for benchmarks and parity,
# attr (getfattr/setfattr: file xattrs in layers), zstd (reading zstd layers), uidmap (rootless), and
# gcc with libc6-dev for the native syscalls module `npm run build` compiles (optional, but faster).
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(runc crun busybox-static skopeo docker-registry umoci buildah apache2-utils git ca-certificates openssl attr zstd uidmap podman gcc libc6-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing: ${missing[*]}" >&2
# docker-registry starts a system service on install; we only want the binary (tests start their own
# on loopback), so forbid service starts for the duration of the install.
policy=/usr/sbin/policy-rc.d
had_policy=0
[ -e "$policy" ] && had_policy=1
if [ $had_policy -eq 0 ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
fi
trap '[ $had_policy -eq 0 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
