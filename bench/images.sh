#!/bin/bash
# images.sh: time unpacking and pulling a ~200 MB four-layer image with
# hutch against umoci, skopeo and plain tar (hyperfine), and print hutch's
# ratios.
#
#   bench/images.sh         (as root; `make bench-images`)
#
# Environment: HUTCH (default bin/hutch), RUNS (default 5), WARMUP
# (default 1), PORT (registry port on 127.0.0.1, default 5077), WORK
# (default bench/_work).
#
# Method, and why:
# - The image is made of real files (this machine's /usr/share trees, so
#   they compress like the contents of real images: perl + i18n, vim +
#   python3.11, icons, man), one to two trees per layer,
#   built into an OCI layout by umoci (`umoci raw add-layer`, gzip), so that
#   neither side of the comparison made it. It is made once and kept in
#   WORK/images/layout; its size is printed.
# - unpack: `umoci unpack --image LAYOUT:bench OUT` against
#   `hutch --root R pull oci:LAYOUT:bench`, which copies (and verifies) the
#   blobs into the store and then unpacks every layer into a snapshot.
#   Both targets are removed by --prepare, so every run does the whole job.
#   `hutch-unpack` is the same command on a root that already holds the
#   blobs and the index record but no unpacked layers (the root of one pull
#   copied without its snapshotter directory): only the unpack is left.
#   `tar` is the floor: `tar -xzf` of the four layer blobs into one dir.
# - pull: a docker-registry on 127.0.0.1:PORT (storage in WORK), the image
#   pushed once by skopeo; `hutch --root R pull 127.0.0.1:PORT/bench/img:v1`
#   into an empty root (store and unpack) against `skopeo copy
#   --src-tls-verify=false docker://... dir:OUT` (fetch and store only: skopeo
#   unpacks nothing, so the ratio flatters skopeo: hutch has no pull
#   without unpack; the unpack part alone is hutch-unpack above), and
#   against `skopeo+umoci`: skopeo copy to an OCI layout then umoci unpack,
#   the same work as hutch's pull done by the two tools.
# - hyperfine -N (no shell): the tar floor and the --prepare steps are
#   small scripts in WORK run by bash, so no command pays a shell's start-up
#   except tar's own (one bash, a few ms).
# - Times move by 2x between runs on shared machines: compare the ratios of
#   one run, not absolute times across runs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
WORK=${WORK:-$here/_work}
HUTCH=${HUTCH:-$repo/bin/hutch}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
PORT=${PORT:-5077}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
for t in hyperfine jq umoci skopeo tar; do
	command -v $t >/dev/null || die "$t missing (scripts/deps.sh)"
done
[ -x /usr/bin/docker-registry ] || die "docker-registry missing (apt-get install docker-registry)"
[ -x "$HUTCH" ] || die "$HUTCH missing: run make first"

mkdir -p "$WORK/images"
W=$(cd "$WORK/images" && pwd)
layout=$W/layout
reg=""
cleanup() {
	if [ -n "$reg" ]; then kill "$reg" 2>/dev/null || true; wait "$reg" 2>/dev/null || true; fi
	# Snapshot dirs may hold overlay mounts if a run was interrupted:
	# never cross into them.
	rm -rf --one-file-system "$W"/out-* "$W"/root-* "$W"/registry "$W"/registry.yml "$W"/*.sh
}
trap cleanup EXIT
cleanup

# 1. The image (kept between runs).
if [ ! -f "$layout/index.json" ]; then
	rm -rf "$layout" "$W/layers"
	mkdir -p "$W/layers"
	umoci init --layout "$layout"
	umoci new --image "$layout:bench"
	n=0
	for trees in "usr/share/perl usr/share/i18n" "usr/share/vim usr/lib/python3.11" usr/share/icons usr/share/man; do
		n=$((n + 1))
		# shellcheck disable=SC2086 # a list of trees
		tar -C / --numeric-owner -cf "$W/layers/$n.tar" $trees
		umoci raw add-layer --image "$layout:bench" "$W/layers/$n.tar"
	done
	rm -rf "$W/layers"
fi
layers=()
mapfile -t layers < <(jq -r '.manifests[0].digest' "$layout/index.json" |
	sed 's/^sha256://' | xargs -I{} jq -r '.layers[].digest' "$layout/blobs/sha256/{}" | sed "s|^sha256:|$layout/blobs/sha256/|")
[ "${#layers[@]}" = 4 ] || die "layout: want 4 layers, have ${#layers[@]}"
gz=$(du -cb "${layers[@]}" | tail -1 | cut -f1)
raw=0
for l in "${layers[@]}"; do raw=$((raw + $(gzip -dc "$l" | wc -c))); done
echo "image: 4 layers, $((raw / 1000000)) MB of tar, $((gz / 1000000)) MB gzipped"

# 2. A root with the blobs stored but nothing unpacked.
"$HUTCH" --root "$W/root-seed" pull -q "oci:$layout:bench" >/dev/null
driver=$(cat "$W/root-seed/storage-driver")
mkdir -p "$W/root-blobs"
(cd "$W/root-seed" && find . -mindepth 1 -maxdepth 1 ! -name "$driver" ! -name '*.lock' -exec cp -a {} "$W/root-blobs/" \;)
rm -rf --one-file-system "$W/root-seed"
echo "hutch storage driver: $driver"

{
	echo "set -e; mkdir $W/out-tar"
	for l in "${layers[@]}"; do echo "tar -C $W/out-tar -xzf $l"; done
} >"$W/untar.sh"
echo "rm -rf --one-file-system $W/out-umoci $W/out-tar $W/root-u $W/root-unpack && cp -a $W/root-blobs $W/root-unpack && sync" >"$W/prep-unpack.sh"

hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$W/unpack.json" \
	--prepare "bash $W/prep-unpack.sh" \
	--command-name umoci "umoci unpack --image $layout:bench $W/out-umoci" \
	--command-name hutch "$HUTCH --root $W/root-u pull -q oci:$layout:bench" \
	--command-name hutch-unpack "$HUTCH --root $W/root-unpack pull -q oci:$layout:bench" \
	--command-name tar "bash $W/untar.sh"
rm -rf --one-file-system "$W"/out-* "$W"/root-u "$W"/root-unpack

# 3. The registry, on loopback only.
cat >"$W/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/registry
http:
  addr: 127.0.0.1:$PORT
EOF
/usr/bin/docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
reg=$!
for _ in $(seq 50); do
	curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null || die "registry did not start (see $W/registry.log)"
ref=127.0.0.1:$PORT/bench/img:v1
skopeo copy -q --dest-tls-verify=false "oci:$layout:bench" "docker://$ref"

echo "rm -rf --one-file-system $W/out-skopeo $W/out-su $W/root-p && sync" >"$W/prep-pull.sh"
cat >"$W/skopeo-umoci.sh" <<EOF
set -e
mkdir -p $W/out-su
skopeo copy -q --src-tls-verify=false docker://$ref oci:$W/out-su/layout:v1
umoci unpack --image $W/out-su/layout:v1 $W/out-su/rootfs
EOF
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$W/pull.json" \
	--prepare "bash $W/prep-pull.sh" \
	--command-name skopeo "skopeo copy -q --src-tls-verify=false docker://$ref dir:$W/out-skopeo" \
	--command-name hutch "$HUTCH --root $W/root-p pull -q $ref" \
	--command-name skopeo+umoci "bash $W/skopeo-umoci.sh"

kill "$reg"
wait "$reg" 2>/dev/null || true
reg=""

mean() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .mean' "$1"; }
ratio() { echo "scale=2; $1 / $2" | bc; }
u_umoci=$(mean "$W/unpack.json" umoci)
u_hutch=$(mean "$W/unpack.json" hutch)
u_only=$(mean "$W/unpack.json" hutch-unpack)
u_tar=$(mean "$W/unpack.json" tar)
p_skopeo=$(mean "$W/pull.json" skopeo)
p_hutch=$(mean "$W/pull.json" hutch)
p_su=$(mean "$W/pull.json" skopeo+umoci)
printf '\nmeans (s): umoci %.3f  hutch %.3f  hutch-unpack %.3f  tar %.3f | skopeo %.3f  hutch-pull %.3f  skopeo+umoci %.3f\n' \
	"$u_umoci" "$u_hutch" "$u_only" "$u_tar" "$p_skopeo" "$p_hutch" "$p_su"
echo "hutch/umoci:         $(ratio "$u_hutch" "$u_umoci")  (target <= 0.8)"
echo "hutch-unpack/umoci:  $(ratio "$u_only" "$u_umoci")"
echo "tar/umoci:           $(ratio "$u_tar" "$u_umoci")"
echo "hutch-pull/skopeo:   $(ratio "$p_hutch" "$p_skopeo")  (skopeo does not unpack)"
echo "hutch-pull/skopeo+umoci: $(ratio "$p_hutch" "$p_su")"
