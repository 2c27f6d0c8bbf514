#!/bin/bash
# demo.sh: the engine's main job on a machine with no registry. It makes a
# small image locally (Debian's busybox-static as a root filesystem, imported
# with `hutch import`), runs a detached container from it with a memory
# limit, and shows `hutch ps`, `hutch logs`, `hutch exec` and `hutch rm`.
# Everything lives in a temporary --root/--runroot, so the demo never touches
# the real store in /var/lib/hutch. Run as root after `make`.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/bin/hutch
[ -x "$bin" ] || { echo "demo: $bin missing: run make first" >&2; exit 1; }

work=$(mktemp -d /tmp/hutch-demo.XXXXXX)
hutch() { "$bin" --root "$work/root" --runroot "$work/run" "$@"; }
show() { echo "+ hutch $*"; hutch "$@"; }
# The default network's bridge and nftables table are made on first use and
# stay, as docker0 does; the demo removes them again if it made them.
had_bridge=0
ip link show hutch0 >/dev/null 2>&1 && had_bridge=1
cleanup() {
	hutch rm -f demo >/dev/null 2>&1 || true
	if [ "$had_bridge" = 0 ]; then
		ip link del hutch0 2>/dev/null || true
		nft delete table inet hutch 2>/dev/null || true
	fi
	umount "$work/run/netns" 2>/dev/null || true
	# Never cross into a mount a failed run may have left behind.
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# The image: busybox and its applets, /etc/passwd and /etc/group.
"$here/scripts/mkbundle.sh" "$work/bundle" >/dev/null
tar -C "$work/bundle/rootfs" --numeric-owner -cf "$work/busybox.tar" .
show import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:demo
show images

show run -d --name demo --memory 64m busybox:demo \
	sh -c 'echo "hello from $(hostname)"; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done'
sleep 2
show ps
show inspect -f '{{.NetworkSettings.IPAddress}}' demo
show logs demo
show exec demo sh -c 'echo "in the container: PID 1 is $(tr "\0" " " </proc/1/cmdline)"; cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes'
show rm -f demo
show ps -a
