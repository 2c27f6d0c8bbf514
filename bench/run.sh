#!/bin/bash
# run.sh: time `RUNTIME run ID` of a busybox /bin/true bundle with hutch-runc,
# crun and runc side by side (hyperfine -N), and print hutch's ratios.
#
#   bench/run.sh            (as root; `make bench`)
#
# Environment: HUTCH (default bin/hutch-runc), CRUN, RUNC (default from PATH;
# a missing anchor is left out), RUNS (default 100), WARMUP (default 10),
# WORK (default bench/_work).
#
# Method, and why:
# - One bundle for all runtimes: the default config (`runc spec`) with
#   process.args ["/bin/true"] and no terminal, on a busybox rootfs, marked
#   ociVersion 1.0.2 because crun 1.8 rejects 1.2 and later.
# - `run` is create + start + wait + delete: when the container exits, each
#   runtime removes its state, so the same container ID can be used for every
#   run. That keeps the measured command a plain exec of the runtime
#   (hyperfine -N, no shell); a wrapper that invents a fresh ID per run would
#   add a shell's start-up to every sample. Each runtime gets its own --root,
#   emptied before and after the benchmark.
# - crun 1.8 refuses the hybrid cgroup layout of our machines. hyperfine runs
#   in a private mount namespace where an empty file covers
#   /sys/fs/cgroup/unified/cgroup.controllers (TESTBED.md); all three runtimes
#   run in that same namespace, so they see the same host. The host's mounts
#   are unchanged.
# - Times move by 2x between runs on shared machines: compare the ratios of
#   one run, not absolute times across runs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
WORK=${WORK:-$here/_work}
HUTCH=${HUTCH:-$repo/bin/hutch-runc}
RUNS=${RUNS:-100}
WARMUP=${WARMUP:-10}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
command -v hyperfine >/dev/null || die "hyperfine missing (scripts/deps.sh)"
command -v jq >/dev/null || die "jq missing (scripts/deps.sh)"
[ -x "$HUTCH" ] || die "$HUTCH missing: run make first"

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
bundle=$WORK/bundle
if [ ! -x "$bundle/rootfs/bin/busybox" ]; then
	rm -rf --one-file-system "$bundle"
	"$repo/scripts/mkbundle.sh" "$bundle" /bin/true
	# crun 1.8 refuses ociVersion 1.2 and later ("unknown version
	# specified"); nothing in this config is newer than 1.0.
	jq --tab '.ociVersion = "1.0.2"' "$bundle/config.json" >"$WORK/config.json"
	mv "$WORK/config.json" "$bundle/config.json"
fi
: >"$WORK/empty"

id=bench-true
names=() cmds=()
add() { # add NAME PATH
	local name=$1 path=$2 root=$WORK/state-$1
	rm -rf --one-file-system "$root"
	mkdir -p "$root"
	names+=("$name")
	cmds+=("$path --root $root run --bundle $bundle $id")
}
add hutch "$HUTCH"
if crun=${CRUN:-$(command -v crun)}; then add crun "$crun"; else echo "bench: crun not found, left out" >&2; fi
if runc=${RUNC:-$(command -v runc)}; then add runc "$runc"; else echo "bench: runc not found, left out" >&2; fi

args=(-N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/result.json")
for i in "${!names[@]}"; do
	args+=(--command-name "${names[$i]}" "${cmds[$i]}")
done
# The floor: the same namespaces with nothing else (TESTBED.md: 2.2 ms on
# the anchor machine), to tell a slow machine from a slow runtime.
args+=(--command-name floor "unshare -mpfnuiC --mount-proc -f /bin/true")

# shellcheck disable=SC2016 # expanded by the inner sh
unshare -m --propagation private sh -c '
	if [ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
		mount --bind "$0" /sys/fs/cgroup/unified/cgroup.controllers
	fi
	exec hyperfine "$@"' "$WORK/empty" "${args[@]}"

for name in "${names[@]}"; do
	rm -rf --one-file-system "$WORK/state-$name"
done

echo
# Ratios of means and of medians (the median resists the outliers that other
# load on the machine causes).
jq -r '
	def ms: . * 1000 | . * 10 | round / 10;
	def r2: . * 100 | round / 100;
	(.results | map({key: .command, value: .}) | from_entries) as $m
	| (.results[] | "\(.command): mean \(.mean | ms) ms ± \(.stddev | ms) ms, median \(.median | ms) ms, min \(.min | ms) ms"),
	  (["crun", "runc"][] as $a | select($m[$a])
	   | "hutch/\($a): \($m.hutch.mean / $m[$a].mean | r2) (means), \($m.hutch.median / $m[$a].median | r2) (medians)")
' "$WORK/result.json"
