#!/usr/bin/env bash
# make-busybox-image.sh OUTDIR
#
# Makes a small busybox base image as an OCI image layout in OUTDIR, from Debian's busybox-static,
# with no network: /bin/busybox, a symlink per applet, /etc/passwd, /etc/group, /tmp. The layer is
# built deterministically (sorted, numeric owners 0:0, mtime 0, gzip without a timestamp), so the
# same busybox package always gives the same digests. Tests and the demo use it as their base image.
set -euo pipefail
out=${1:?usage: make-busybox-image.sh OUTDIR}
bb=/bin/busybox
if ! [ -x "$bb" ] || ! "$bb" --list-full >/dev/null 2>&1; then
  echo "make-busybox-image: $bb missing; install Debian's busybox-static (scripts/install-deps.sh)" >&2
  exit 1
fi
file -b "$bb" 2>/dev/null | grep -q 'dynamically linked' && { echo "make-busybox-image: $bb is dynamically linked; install busybox-static" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home,var,proc,sys,dev}
cp "$bb" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
"$bb" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$root/$(dirname "$applet")"
  ln -sf /bin/busybox "$root/$applet"
done
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
daemon:x:1:
bin:x:2:
tty:x:5:
www-data:x:33:
users:x:100:
nogroup:x:65534:
G
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"

blobs=$out/blobs/sha256
rm -rf "$out"
mkdir -p "$blobs"
# Entries without a ./ prefix, sorted, 0:0, mtime 0: byte-identical on every run.
(cd "$root" && LC_ALL=C find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) > "$work/list"
tar -C "$root" --no-recursion --null -T <(tr '\n' '\0' < "$work/list") \
  --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$work/layer.tar"
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -9 -c "$work/layer.tar" > "$work/layer.tar.gz"
layer_hex=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar.gz")
mv "$work/layer.tar.gz" "$blobs/$layer_hex"

case "$(uname -m)" in
  x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; armv7l) arch=arm ;; i686) arch=386 ;; *) arch=$(uname -m) ;;
esac
# sed reads all of busybox's output: `head -1` would kill busybox with SIGPIPE under pipefail.
version=$("$bb" 2>&1 | sed -n '1s/^BusyBox \(v[^ ]*\).*/\1/p')
printf '%s' "{\"architecture\":\"$arch\",\"os\":\"linux\",\"created\":\"1970-01-01T00:00:00Z\",\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\"Cmd\":[\"sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"$diff_id\"]},\"history\":[{\"created\":\"1970-01-01T00:00:00Z\",\"created_by\":\"make-busybox-image.sh: busybox-static ${version:-unknown}\"}]}" > "$work/config.json"
config_hex=$(sha256sum "$work/config.json" | cut -d' ' -f1)
config_size=$(stat -c %s "$work/config.json")
mv "$work/config.json" "$blobs/$config_hex"

printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$config_hex\",\"size\":$config_size},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$layer_hex\",\"size\":$layer_size}]}" > "$work/manifest.json"
manifest_hex=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
manifest_size=$(stat -c %s "$work/manifest.json")
mv "$work/manifest.json" "$blobs/$manifest_hex"

printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$manifest_hex\",\"size\":$manifest_size,\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"},\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}" > "$out/index.json"
echo "sha256:$manifest_hex"
