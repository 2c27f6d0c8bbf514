#!/bin/bash
# run.sh: the OCI runtime-tools validation suite against an OCI runtime.
#
#   tests/conformance/run.sh [PROGRAM...]     (as root; `make conformance`)
#
# Environment:
#   RUNTIME       runtime to test (default: bin/hutch-runc of this checkout)
#   TIMEOUT       seconds per program (default 300)
#   HIDE_CGROUP2  1 to hide the cgroup2 controllers from the runtime (crun
#                 refuses hybrid cgroup layouts); default 1 for crun, else 0
#   WORK          work directory (default tests/conformance/_work)
#   OCI_COMPAT    1 to lower ociVersion 1.2+ to 1.0.2 before create, through
#                 ociversion-compat.sh (crun 1.8 rejects newer versions);
#                 default 1 for crun, else 0
#
# The suite (github.com/opencontainers/runtime-tools at RT_VERSION) comes
# from the Go module proxy: its module zip carries the validation programs,
# runtimetest and the busybox rootfs-amd64.tar.gz they unpack. It is copied to
# $WORK/src without its stale vendor/ tree and built with -mod=mod, the
# programs into $WORK/bin, runtimetest statically (it runs inside the
# containers). Each program then runs from $WORK/src, as the suite expects,
# inside its own private mount namespace (some leave mounts behind, even with
# runc) and with its own TMPDIR, under a timeout.
#
# Counting: every TAP line "ok ..." (skips included, as node-tap's "passing"
# plus "pending") and "not ok ...". A program that exits non-zero (or times
# out) without any "not ok" line failed before or instead of its TAP points,
# usually printing only a YAML error block: it counts as one "not ok".
#
# Output: one line per program, then `runtime-tools: N ok, M not ok`.
# $WORK/logs/NAME/ holds PROGRAM.tap (stdout), PROGRAM.err (stderr),
# summary.txt and failures.txt (each failing point with its diagnostics),
# where NAME is the runtime's base name.
set -euo pipefail

# Everything runs from main, which bash reads whole before running: editing
# this file during a run cannot change the run.
main() {

RT_MODULE=github.com/opencontainers/runtime-tools
RT_VERSION=v0.9.1-0.20251205004911-5e639034dcdc

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
WORK=${WORK:-$here/_work}
RUNTIME=${RUNTIME:-$repo/bin/hutch-runc}
TIMEOUT=${TIMEOUT:-300}

die() { echo "conformance: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
runtime=$(command -v "$RUNTIME") || die "runtime $RUNTIME not found (make first, or set RUNTIME)"
name=$(basename "$runtime")
if [ -z "${HIDE_CGROUP2:-}" ]; then
	case $name in crun) HIDE_CGROUP2=1 ;; *) HIDE_CGROUP2=0 ;; esac
fi
if [ -z "${OCI_COMPAT:-}" ]; then
	case $name in crun) OCI_COMPAT=1 ;; *) OCI_COMPAT=0 ;; esac
fi
if [ "$OCI_COMPAT" = 1 ]; then
	export REAL_RUNTIME=$runtime
	runtime=$here/ociversion-compat.sh
fi
for tool in go tar unshare timeout; do
	command -v $tool >/dev/null || die "$tool missing (scripts/deps.sh)"
done

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
src=$WORK/src
bin=$WORK/bin

# Fetch and build the suite once per version.
stamp="$RT_VERSION tool"
if [ "$(cat "$WORK/built" 2>/dev/null)" != "$stamp" ]; then
	echo "conformance: building $RT_MODULE@$RT_VERSION in $WORK" >&2
	dir=$(cd "$repo" && go mod download -json "$RT_MODULE@$RT_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -d "$dir" ] || die "go mod download $RT_MODULE@$RT_VERSION failed"
	rm -rf --one-file-system "$src" "$bin" "$WORK/built" "$WORK/oci-runtime-tool"
	cp -r "$dir" "$src"
	chmod -R u+w "$src"
	# Its vendor/ tree does not match its go.mod; resolve from the proxy.
	rm -rf "$src/vendor"
	(
		cd "$src"
		export GOFLAGS=-mod=mod GOWORK=off
		go build -o "$bin/" ./validation/...
		CGO_ENABLED=0 go build -tags "netgo osusergo" -o runtimetest ./cmd/runtimetest
		# Not used by the run; `oci-runtime-tool generate` writes the
		# programs' default config, handy to reproduce a failure.
		go build -o "$WORK/oci-runtime-tool" ./cmd/oci-runtime-tool
	)
	echo "$stamp" >"$WORK/built"
fi

if [ $# -gt 0 ]; then
	programs=("$@")
else
	programs=()
	for d in "$src"/validation/*/; do
		p=$(basename "$d")
		[ "$p" = util ] || programs+=("$p")
	done
fi

logs=$WORK/logs/$name
rm -rf --one-file-system "$logs"
mkdir -p "$logs" "$WORK/tmp"
: >"$WORK/empty"
summary=$logs/summary.txt
failures=$logs/failures.txt
: >"$summary"
: >"$failures"
descs=$logs/failed-points.txt
: >"$descs"

# Containers the runtime knows before we start are not ours to delete.
list_ids() { "$runtime" list -q 2>/dev/null | sort || true; }
before=$(list_ids)

# The suite's cgroupsPaths (/cgrouptest, testdir/cgrouptest/container) make
# parent cgroups that runtimes, like runc, leave in place when they remove
# the container's own. Remove the empty ones the run made, and only those.
suite_cgroups() {
	find /sys/fs/cgroup -maxdepth 6 -type d \( -name testdir -o -name cgrouptest \) 2>/dev/null | sort
}
cgroups_before=$(suite_cgroups)

# The command run in each program's private mount namespace. With
# HIDE_CGROUP2=1 an empty file covers cgroup.controllers of the unified
# hierarchy, so the runtime sees a v1 host (TESTBED.md).
inner='
if [ "$HIDE_CGROUP2" = 1 ] && [ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
	mount --bind "$WORK/empty" /sys/fs/cgroup/unified/cgroup.controllers
fi
exec "$@"'

total_ok=0 total_notok=0 total_skip=0
echo "conformance: RUNTIME=$runtime${REAL_RUNTIME:+ (for $REAL_RUNTIME)}, HIDE_CGROUP2=$HIDE_CGROUP2, logs in $logs" >&2
for p in "${programs[@]}"; do
	[ -x "$bin/$p" ] || die "no program $p in $bin"
	tmp=$WORK/tmp/$p
	mkdir -p "$tmp"
	start=$EPOCHREALTIME
	rc=0
	(
		cd "$src"
		RUNTIME=$runtime TMPDIR=$tmp HIDE_CGROUP2=$HIDE_CGROUP2 WORK=$WORK \
			timeout -k 10 "$TIMEOUT" unshare -m --propagation private \
			sh -c "$inner" sh "$bin/$p" </dev/null >"$logs/$p.tap" 2>"$logs/$p.err"
	) || rc=$?
	secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	# The namespace is gone, and its mounts with it.
	rm -rf --one-file-system "$tmp" || echo "conformance: $p: could not remove $tmp" >&2

	ok=$(grep -c '^ok ' "$logs/$p.tap" || true)
	skip=$(grep -c '^ok .*# SKIP' "$logs/$p.tap" || true)
	notok=$(grep -c '^not ok ' "$logs/$p.tap" || true)
	note= passnote=
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		note="timeout after ${TIMEOUT}s"
	elif [ "$rc" != 0 ]; then
		note="exit $rc"
	elif [ $((ok + notok)) = 0 ] && grep -q '"error"' "$logs/$p.tap"; then
		note="YAML error block, no TAP point"
	elif [ $((ok + notok)) = 0 ]; then
		# The *_fail programs and some hook programs print nothing
		# when the runtime behaved.
		passnote="(passed silently: exit 0, no TAP point)"
	fi
	if [ -n "$note" ] && [ "$notok" = 0 ]; then
		notok=1
		echo "$p: (program failed: $note)" >>"$descs"
		{
			echo "$p: not ok (program failed: $note)"
			grep -v '^ok ' "$logs/$p.tap" | tail -n 30 | sed 's/^/    /' || true
			tail -n 20 "$logs/$p.err" | sed 's/^/    stderr: /' || true
			echo
		} >>"$failures"
	fi
	sed -n 's/^not ok \([0-9]*\) *-* */\1 - /p' "$logs/$p.tap" | sed "s|^|$p: |" >>"$descs"
	# Each failing point with the YAML block that follows it.
	awk -v p="$p" '
		/^not ok / { print p ": " $0; inblock = 1; next }
		inblock && /^  / { print "  " $0; if ($0 ~ /^  \.\.\.$/) { inblock = 0; print "" } ; next }
		{ if (inblock) print ""; inblock = 0 }
	' "$logs/$p.tap" >>"$failures"

	printf '%-36s %5d ok %4d not ok %5d skip %8ss %s\n' "$p" "$ok" "$notok" "$skip" "$secs" "$note$passnote" | tee -a "$summary" >&2
	total_ok=$((total_ok + ok))
	total_notok=$((total_notok + notok))
	total_skip=$((total_skip + skip))

	# Remove containers a failed or timed-out program left behind.
	for id in $(comm -13 <(echo "$before") <(list_ids)); do
		echo "conformance: $p left container $id behind; deleting it" | tee -a "$summary" >&2
		"$runtime" delete --force "$id" >/dev/null 2>&1 || true
	done
done
rmdir "$WORK/tmp" 2>/dev/null || true
# Deepest first; rmdir refuses a cgroup that still has children or tasks.
for d in $(comm -13 <(echo "$cgroups_before") <(suite_cgroups) | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-); do
	rmdir "$d" 2>/dev/null || true
done

echo "runtime-tools: $total_ok ok, $total_notok not ok ($total_skip of the ok skipped)" | tee -a "$summary"

# Sort the failures into expected (expected-failures.txt) and not.
local unexpected=0 expected=0 line prog text bare pat ok_
: >"$logs/unexpected.txt"
while IFS= read -r line; do
	prog=${line%%: *} text=${line#*: } ok_=
	# "N - description": match with and without the point number.
	bare=${text#[0-9]* - }
	while IFS= read -r pat; do
		case $pat in ''|'#'*) continue ;; esac
		[ "${pat%%: *}" = "$prog" ] || continue
		pat=${pat#*: }
		if [ "$pat" = '*' ] || [ "${text#"$pat"}" != "$text" ] || [ "${bare#"$pat"}" != "$bare" ]; then
			ok_=1
			break
		fi
	done <"$here/expected-failures.txt"
	if [ -n "$ok_" ]; then
		expected=$((expected + 1))
	else
		unexpected=$((unexpected + 1))
		echo "$line" >>"$logs/unexpected.txt"
	fi
done <"$descs"
echo "of the not ok: $expected expected (test bugs, host limits: expected-failures.txt), $unexpected unexpected" | tee -a "$summary"
if [ "$unexpected" != 0 ]; then
	sed 's/^/  unexpected: /' "$logs/unexpected.txt" | tee -a "$summary"
	return 1
fi
}

main "$@"
