#!/bin/bash
# run.sh: Hutch's cgroup tests on pure cgroup v2, inside a qemu guest.
#
#   tests/cgroup2/run.sh           (as root; `make test-cgroup2`)
#
# The host (our machines) has the v1/v2 hybrid layout; the guest boots
# Debian's kernel (linux-image-amd64, installed next to the running one,
# which is never touched) with a busybox initramfs that mounts cgroup2 alone
# at /sys/fs/cgroup, so every controller is on v2. The initramfs carries:
#
#   /bin/busybox          busybox-static: the guest's userland and the
#                         containers' rootfs (internal/testbundle copies it)
#   /lib/modules/*.ko     the kernel modules of $MODULES and their
#                         dependencies (modules.dep), insmod'ed in order
#   /hutch/bin/hutch      bin/hutch built statically (cgo: libseccomp, libc)
#   /hutch/t/NAME/        one `go test -c` binary per package: every package
#                         of ./cgroups/..., ./tests/cgroup2 (the v2-only
#                         end-to-end tests) and ./tests/integration limited
#                         to the tests of cgroups_test.go
#
# /init copies the tree onto a tmpfs and switch_roots there (pivot_root, which
# the runtime uses, cannot leave an initramfs), mounts proc, sys, devtmpfs,
# devpts, cgroup2, runs each test binary with -test.v between marker lines
# on the serial console, then powers off. This script streams the console,
# keeps it in $WORK/console.log, counts the top-level `--- PASS/FAIL/SKIP`
# lines of each binary and prints `cgroup2: N passed, M failed, K skipped`.
# It fails when a test failed, a binary exited non-zero without a failing
# test (a panic, a build problem, its timeout), a binary never finished, or
# the guest did not reach its end marker (kernel panic, qemu timeout).
#
# Environment:
#   WORK         work directory (default tests/cgroup2/_work, git-ignored)
#   KERNEL       kernel image (default: the newest /boot/vmlinuz-* whose
#                /lib/modules/VERSION exists)
#   MODULES      modules to load in the guest (default: loop overlay veth
#                bridge; loop gives the block devices of the device tests)
#   MEM, SMP     guest memory in MiB (default 2048) and CPUs (default 2)
#   TIMEOUT      seconds for the whole guest run (default 900)
#   TEST_TIMEOUT go test -test.timeout per binary inside (default 6m)
#   COUNT        go test -test.count per binary (default 1; more to hunt a flake)
#   RUN          a -test.run regexp applied to every binary (default: all;
#                the integration binary gets the cgroups_test.go names)
#   IT_RUN       the integration binary's -test.run (default: the Test
#                functions of tests/integration/cgroups_test.go)
#   PKGS         the Go packages to test (default as above)
#   VERBOSE      1: boot without `quiet` and with the kernel's log level
#                at its default, to debug the guest itself
set -euo pipefail

main() {

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
WORK=${WORK:-$here/_work}
MODULES=${MODULES:-loop overlay veth bridge}
MEM=${MEM:-2048}
SMP=${SMP:-2}
TIMEOUT=${TIMEOUT:-900}
TEST_TIMEOUT=${TEST_TIMEOUT:-6m}
COUNT=${COUNT:-1}
RUN=${RUN:-}
VERBOSE=${VERBOSE:-0}
GO=${GO:-go}

die() { echo "cgroup2: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (Debian's /boot/vmlinuz-* is readable by root only)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: apt-get install qemu-system-x86 (or make deps)"
command -v cpio >/dev/null || die "cpio missing: apt-get install cpio"
[ -x /bin/busybox ] || die "/bin/busybox missing: apt-get install busybox-static"

# --- the kernel ---
if [ -z "${KERNEL:-}" ]; then
	for k in $(ls -1v /boot/vmlinuz-* 2>/dev/null | tac); do
		if [ -d "/lib/modules/${k#/boot/vmlinuz-}" ]; then KERNEL=$k; break; fi
	done
	[ -n "${KERNEL:-}" ] || die "no /boot/vmlinuz-* with its /lib/modules: apt-get install linux-image-amd64 (or make deps)"
fi
kver=${KVER:-${KERNEL#/boot/vmlinuz-}}
moddir=/lib/modules/$kver
[ -f "$KERNEL" ] || die "kernel $KERNEL not found"
[ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep not found (set KVER to the kernel's version)"

start=$(date +%s)
# Only what this script made: $WORK/initramfs, $WORK/*.cpio, console.log.
mkdir -p "$WORK"
root=$WORK/initramfs
rm -rf --one-file-system "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/modules,hutch/bin,hutch/t,proc,sys,dev,tmp,run,root,newroot}
chmod 1777 "$root/tmp"

# --- userland ---
cp /bin/busybox "$root/bin/busybox"
mkdir -p "$root"/etc "$root"/var/{cache,lib,tmp,run}
chmod 1777 "$root/var/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"

# --- kernel modules, dependencies first ---
declare -A loaded=()
order=()
add_module() { # add_module RELPATH
	local rel=$1 deps d
	[ -n "${loaded[$rel]:-}" ] && return
	loaded[$rel]=1
	deps=$(awk -v m="$rel:" '$1 == m { $1 = ""; print; exit }' "$moddir/modules.dep")
	for d in $deps; do add_module "$d"; done
	order+=("$rel")
}
for m in $MODULES; do
	m=${m//-/_}
	rel=$(awk -F: -v m="$m" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n); if (n == m) { print $1; exit } }' "$moddir/modules.dep")
	if [ -z "$rel" ]; then
		if grep -qE "/${m}\.ko" "$moddir/modules.builtin" 2>/dev/null; then
			continue # built in: nothing to load
		fi
		die "module $m: not in $moddir/modules.dep nor modules.builtin"
	fi
	add_module "$rel"
done
: >"$root/lib/modules/load"
for rel in "${order[@]}"; do
	name=$(basename "$rel")
	case $name in
	*.ko) cp "$moddir/$rel" "$root/lib/modules/$name" ;;
	*.ko.xz) xz -dc "$moddir/$rel" >"$root/lib/modules/${name%.xz}"; name=${name%.xz} ;;
	*.ko.zst) zstd -qdc "$moddir/$rel" >"$root/lib/modules/${name%.zst}"; name=${name%.zst} ;;
	*.ko.gz) gzip -dc "$moddir/$rel" >"$root/lib/modules/${name%.gz}"; name=${name%.gz} ;;
	*) die "module $rel: unknown compression" ;;
	esac
	echo "$name" >>"$root/lib/modules/load"
done

# --- binaries ---
cd "$repo"
echo "cgroup2: building bin/hutch (static) and the test binaries"
# The runtime's seccomp stage is cgo (libseccomp); the guest has no libc, so
# link everything in. netgo/osusergo keep glibc's NSS out of the binary.
CGO_ENABLED=1 $GO build -tags netgo,osusergo \
	-ldflags '-linkmode external -extldflags -static' \
	-o "$root/hutch/bin/hutch" ./cmd/hutch
ln -s hutch "$root/hutch/bin/hutch-runc"

if [ -z "${PKGS:-}" ]; then
	# Only packages with tests: `go test -c` writes nothing for the others.
	PKGS="$($GO list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./cgroups/... | tr '\n' ' ') ./tests/cgroup2"
	[ -f tests/integration/cgroups_test.go ] && PKGS="$PKGS ./tests/integration"
fi
if [ -z "${IT_RUN:-}" ] && [ -f tests/integration/cgroups_test.go ]; then
	names=$(sed -nE 's/^func (Test[A-Za-z0-9_]+)\(t \*testing\.T\).*/\1/p' tests/integration/cgroups_test.go | paste -sd'|')
	[ -n "$names" ] && IT_RUN="^($names)\$"
fi
: >"$root/hutch/tests"
for pkg in $PKGS; do
	name=$(basename "$pkg")
	[ -e "$root/hutch/t/$name" ] && name=$(echo "$pkg" | sed 's|^\./||; s|^hutch.dev/hutch/||; s|/|-|g')
	mkdir -p "$root/hutch/t/$name"
	# Pure Go where possible: the guest has no libc. A package whose tests
	# need cgo gets a static cgo build.
	out=$root/hutch/t/$name/$name.test
	if ! CGO_ENABLED=0 $GO test -c -o "$out" "$pkg" 2>"$WORK/build.err"; then
		if grep -q 'build constraints exclude all Go files\|cgo' "$WORK/build.err"; then
			CGO_ENABLED=1 $GO test -c -tags netgo,osusergo -ldflags '-linkmode external -extldflags -static' -o "$out" "$pkg"
		else
			cat "$WORK/build.err" >&2
			die "go test -c $pkg failed"
		fi
	fi
	if [ ! -f "$out" ]; then # no test files
		rmdir "$root/hutch/t/$name"
		continue
	fi
	# Package directories may hold testdata the tests read from their cwd.
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	[ -d "$dir/testdata" ] && cp -a "$dir/testdata" "$root/hutch/t/$name/"
	run=$RUN
	[ "$name" = integration ] && [ -n "${IT_RUN:-}" ] && run=$IT_RUN
	printf '%s\t%s\n' "$name" "$run" >>"$root/hutch/tests"
done
[ -s "$root/hutch/tests" ] || die "no test binaries"

# --- the guest's scripts ---
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
# Stage 1: copy the initramfs onto a tmpfs and switch_root there, so that
# the runtime's pivot_root works (the initramfs itself cannot be pivoted).
B=/bin/busybox
$B mount -t tmpfs -o mode=0755 tmpfs /newroot
for d in bin sbin usr lib etc var hutch root tmp run init2; do $B cp -a /$d /newroot/; done
$B mkdir -p /newroot/proc /newroot/sys /newroot/dev
exec $B switch_root /newroot /init2
EOF
cat >"$root/init2" <<EOF
#!/bin/busybox sh
# Stage 2: the test run. Output goes to the serial console.
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/hutch/bin HOME=/root TMPDIR=/tmp
export HUTCH_BIN=/hutch/bin/hutch
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx 2>/dev/null
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t cgroup2 -o nsdelegate none /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
ip link set lo up 2>/dev/null
hostname cgroup2-guest
# Only emergencies on the console: OOM kills in the tests must not
# interleave with their output.
[ "$VERBOSE" = 1 ] || echo 1 >/proc/sys/kernel/printk
while read -r m; do
	insmod /lib/modules/\$m || echo "@@@ MODULE-FAILED \$m"
done </lib/modules/load
echo "@@@ GUEST \$(uname -r) cpus=\$(nproc) mem=\$(awk '/MemTotal/ {print \$2 " kB"}' /proc/meminfo)"
echo "@@@ CGROUP2 \$(grep ' /sys/fs/cgroup ' /proc/mounts) controllers: \$(cat /sys/fs/cgroup/cgroup.controllers)"
while IFS='	' read -r name run; do
	cd /hutch/t/\$name
	echo "@@@ BEGIN \$name"
	t0=\$(date +%s)
	if [ -n "\$run" ]; then
		./\$name.test -test.v -test.count=$COUNT -test.timeout $TEST_TIMEOUT -test.run "\$run" 2>&1
	else
		./\$name.test -test.v -test.count=$COUNT -test.timeout $TEST_TIMEOUT 2>&1
	fi
	rc=\$?
	echo "@@@ END \$name rc=\$rc secs=\$((\$(date +%s) - t0))"
done </hutch/tests
echo "@@@ LEFTOVER-CGROUPS \$(cd /sys/fs/cgroup && find . -mindepth 1 -type d | head -20 | tr '\n' ' ')"
echo "@@@ DONE"
sync
poweroff -f
EOF
chmod 0755 "$root/init" "$root/init2"

# --- the initramfs: uncompressed (the kernel unpacks it faster under TCG
# than it would decompress anything) ---
initrd=$WORK/initramfs.cpio
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) >"$initrd"
built=$(date +%s)
echo "cgroup2: initramfs $(du -h "$initrd" | cut -f1), $(wc -l <"$root/hutch/tests") test binaries, modules: $(paste -sd' ' "$root/lib/modules/load"), built in $((built - start)) s"

# --- boot ---
append="console=ttyS0 panic=-1 oops=panic"
[ "$VERBOSE" = 1 ] || append="$append quiet loglevel=1"
console=$WORK/console.log
echo "cgroup2: booting $KERNEL ($kver) under qemu (tcg, ${SMP} cpus, ${MEM} MiB, timeout ${TIMEOUT}s)"
# The guest runs in the background so that a signal to this script (which
# bash would otherwise hold back until the pipeline ends) stops qemu at once.
pidfile=$WORK/qemu.pid
rm -f "$pidfile" "$WORK/qemu.rc"
trap 'stop_qemu' EXIT
trap 'stop_qemu; exit 130' INT TERM HUP
{
	timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -accel tcg -m "$MEM" -smp "$SMP" \
		-nographic -monitor none -no-reboot -pidfile "$pidfile" \
		-kernel "$KERNEL" -initrd "$initrd" -append "$append" </dev/null 2>&1
	echo $? >"$WORK/qemu.rc"
} | sed -u 's/\r//g; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' | tee "$console" | sed -u 's/^/  | /' &
wait $! || true
qemu_rc=$(cat "$WORK/qemu.rc" 2>/dev/null || echo "?")
end=$(date +%s)

summarize "$console" "$qemu_rc" "$((built - start))" "$((end - built))"
}

# stop_qemu kills the guest this script started, if it still runs.
stop_qemu() {
	local pid
	pid=$(cat "$WORK/qemu.pid" 2>/dev/null) || return 0
	if [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = qemu-system-x86 ]; then
		kill "$pid" 2>/dev/null || true
	fi
	rm -f "$WORK/qemu.pid"
}

# summarize LOG QEMU_RC BUILD_SECS BOOT_SECS: counts per binary and overall,
# exits non-zero on any failure.
summarize() {
	local log=$1 qemu_rc=$2 build_secs=$3 run_secs=$4
	awk -v qemu_rc="$qemu_rc" -v build="$build_secs" -v run="$run_secs" '
	/^@@@ BEGIN / { cur = $3; order[++n] = cur; begun[cur] = 1; next }
	/^@@@ END / {
		name = $3; sub(/^rc=/, "", $4); rc[name] = $4; sub(/^secs=/, "", $5); secs[name] = $5
		ended[name] = 1; cur = ""; next
	}
	/^@@@ MODULE-FAILED / { modfail = modfail " " $3; next }
	/^@@@ DONE/ { done = 1; next }
	/^@@@ LEFTOVER-CGROUPS/ { sub(/^@@@ LEFTOVER-CGROUPS ?/, ""); leftover = $0; next }
	cur != "" && /^--- (PASS|FAIL|SKIP): / {
		k = $2; sub(/:$/, "", k)
		cnt[cur, k]++; total[k]++
		if (k == "FAIL") failed[cur] = failed[cur] " " $3
	}
	cur != "" && /^ +--- FAIL: / { failed[cur] = failed[cur] " " $3 }
	cur != "" && /^panic: / { panicked[cur] = 1 }
	END {
		bad = 0
		for (i = 1; i <= n; i++) {
			b = order[i]
			line = sprintf("  %-14s %3d passed, %3d failed, %3d skipped", b, cnt[b, "PASS"], cnt[b, "FAIL"], cnt[b, "SKIP"])
			if (!ended[b]) { line = line "  NOT FINISHED"; bad = 1; total["FAIL"]++ }
			else {
				line = line sprintf("  (%ss)", secs[b])
				if (rc[b] != 0) {
					bad = 1
					if (cnt[b, "FAIL"] == 0) { line = line "  exit " rc[b] (panicked[b] ? " (panic)" : ""); total["FAIL"]++ }
				}
			}
			if (failed[b] != "") line = line "\n    failed:" failed[b]
			print line
		}
		if (n == 0) { print "  no test binary started"; bad = 1 }
		if (!done) { print "  the guest did not reach its end (qemu exit " qemu_rc ": 124 is the timeout)"; bad = 1 }
		if (modfail != "") print "  modules that failed to load:" modfail
		if (leftover != "") print "  cgroups left in the guest: " leftover
		printf "cgroup2: %d passed, %d failed, %d skipped (build %ss, guest %ss)\n", total["PASS"], total["FAIL"], total["SKIP"], build, run
		exit bad
	}' "$log"
}

main "$@"
