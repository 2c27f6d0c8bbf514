#!/bin/bash
# engine.sh: the engine against Podman, side by side on one machine:
#  1. `run --rm --network none IMAGE true` (hyperfine -N)
#  2. 50 containers `run --rm --network none IMAGE true`, 8 at a time
#  3. memory of the monitor of an idle detached container (hutch monitor
#     against Podman's conmon): RSS and PSS
# and prints hutch's ratios (the issue's targets: 0.25x, 0.2x, conmon's RSS).
#
#   bench/engine.sh        (as root; `make bench-engine`)
#
# Environment: HUTCH (default bin/hutch), RUNS (default 30), WARMUP (5),
# BATCH_RUNS (default 3), PODMAN_RUNTIME (default runc: Debian's crun 1.8
# refuses the hybrid cgroup layout of our machines), WORK (default
# bench/_work/engine).
#
# Both engines get private roots under WORK and the same image: busybox
# (Debian's busybox-static) imported into each. Podman runs with cgroupfs,
# file events and its own containers.conf, as in tests/interop.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
WORK=${WORK:-$here/_work/engine}
HUTCH=${HUTCH:-$repo/bin/hutch}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-5}
BATCH_RUNS=${BATCH_RUNS:-3}
PODMAN_RUNTIME=${PODMAN_RUNTIME:-runc}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
for t in hyperfine jq podman conmon; do
	command -v $t >/dev/null || die "$t missing (scripts/deps.sh)"
done
[ -x "$HUTCH" ] || die "$HUTCH missing: run make first"

rm -rf --one-file-system "$WORK"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
H=("$HUTCH" --root "$WORK/hutch/root" --runroot "$WORK/hutch/run")
P=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --tmpdir "$WORK/podman/tmp"
	--storage-driver overlay --runtime "$PODMAN_RUNTIME")
export CONTAINERS_CONF=$WORK/containers.conf
cat >"$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=1024:1024"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
network_config_dir = "$WORK/podman/networks"
CONF
mkdir -p "$WORK/podman/networks"

# The parent cgroups both engines make (/hutch, /libpod_parent) go again
# if this run made them (rmdir: only when empty).
had_run_netns=0
mountpoint -q /run/netns 2>/dev/null && had_run_netns=1
had_parents=$(ls -d /sys/fs/cgroup/*/hutch /sys/fs/cgroup/*/libpod_parent 2>/dev/null | tr "\n" " " || true)
cleanup() {
	"${H[@]}" rm -f idle >/dev/null 2>&1 || true
	"${P[@]}" rm -f idle >/dev/null 2>&1 || true
	"${P[@]}" system reset -f >/dev/null 2>&1 || true
	for m in $(awk -v w="$WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf --one-file-system "$WORK"
	for d in /sys/fs/cgroup/*/hutch /sys/fs/cgroup/*/libpod_parent; do
		[ -d "$d" ] || continue
		case " $had_parents " in *" $d "*) continue ;; esac
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	if [ "$had_run_netns" = 0 ] && mountpoint -q /run/netns && [ -z "$(ls -A /run/netns)" ]; then
		umount /run/netns && rmdir /run/netns
	fi
}
trap cleanup EXIT

"$repo/scripts/mkbundle.sh" "$WORK/bundle" >/dev/null
tar -C "$WORK/bundle/rootfs" --numeric-owner -cf "$WORK/busybox.tar" .
"${H[@]}" import "$WORK/busybox.tar" busybox:bench >/dev/null
"${P[@]}" import "$WORK/busybox.tar" localhost/busybox:bench >/dev/null

echo "== 1. run --rm --network none IMAGE true"
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/run.json" \
	-n hutch "${H[*]} run --rm --network none busybox:bench true" \
	-n podman "${P[*]} run --rm --network none localhost/busybox:bench true"

echo "== 2. 50 containers, 8 at a time"
hyperfine --warmup 1 --runs "$BATCH_RUNS" --export-json "$WORK/batch.json" \
	-n hutch "seq 50 | xargs -P8 -I{} ${H[*]} run --rm --network none busybox:bench true" \
	-n podman "seq 50 | xargs -P8 -I{} ${P[*]} run --rm --network none localhost/busybox:bench true"

echo "== 3. memory of an idle detached container's monitor"
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/${3:-status}"; }
"${H[@]}" run -d --name idle --network none busybox:bench sleep 1000 >/dev/null
hpid=$("${H[@]}" inspect -f '{{.State.MonitorPid}}' idle)
"${P[@]}" run -d --name idle --network none localhost/busybox:bench sleep 1000 >/dev/null
sleep 1
cpid=$(pgrep -f "conmon .*-n idle" | head -1)
[ -n "$cpid" ] || die "conmon of the podman container not found"
h_rss=$(kib "$hpid" VmRSS) h_pss=$(kib "$hpid" Pss smaps_rollup)
c_rss=$(kib "$cpid" VmRSS) c_pss=$(kib "$cpid" Pss smaps_rollup)
printf '%-14s %8s %8s\n' "monitor" "RSS kB" "PSS kB" "hutch monitor" "$h_rss" "$h_pss" "conmon" "$c_rss" "$c_pss"

mean() { jq -r ".results[] | select(.command == \"$2\") | .mean" "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
r1h=$(mean "$WORK/run.json" hutch) r1p=$(mean "$WORK/run.json" podman)
r2h=$(mean "$WORK/batch.json" hutch) r2p=$(mean "$WORK/batch.json" podman)
echo
echo "== hutch / podman (targets: run <= 0.25, batch <= 0.20, monitor RSS <= conmon's)"
printf 'run --rm true      hutch %6.1f ms  podman %6.1f ms  ratio %s\n' "$(awk -v x="$r1h" 'BEGIN{print x*1000}')" "$(awk -v x="$r1p" 'BEGIN{print x*1000}')" "$(ratio "$r1h" "$r1p")"
printf '50 x 8 parallel    hutch %6.2f s   podman %6.2f s   ratio %s\n' "$r2h" "$r2p" "$(ratio "$r2h" "$r2p")"
printf 'monitor RSS        hutch %6s kB  conmon %6s kB  ratio %s\n' "$h_rss" "$c_rss" "$(ratio "$h_rss" "$c_rss")"
