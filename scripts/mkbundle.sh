#!/bin/bash
# mkbundle.sh: make an OCI bundle with a busybox root filesystem.
#
#   scripts/mkbundle.sh DIR [CMD [ARG...]]
#
# DIR/rootfs gets Debian's static /bin/busybox (package busybox-static) and its
# applets as symbolic links (what `busybox --install -s` makes), /etc/passwd
# and /etc/group with root, nobody and test (1000), and empty /proc /sys /dev
# /tmp. DIR/config.json is what `hutch-runc spec` writes (runc's default),
# with process.args set to CMD ARG... and no terminal; without CMD it keeps the
# interactive `sh` on a terminal. Same layout as the Go package
# internal/testbundle. Needs jq.
set -euo pipefail

usage() { echo "usage: $0 DIR [CMD [ARG...]]" >&2; exit 2; }
[ $# -ge 1 ] || usage
case $1 in -h|--help) usage ;; esac
dir=$1; shift

busybox=/bin/busybox
[ -x "$busybox" ] || { echo "mkbundle: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
if ! "$busybox" --list-full >/dev/null 2>&1 || ldd "$busybox" >/dev/null 2>&1; then
	echo "mkbundle: $busybox is not the static busybox (apt-get install busybox-static)" >&2; exit 1
fi
command -v jq >/dev/null || { echo "mkbundle: jq missing (apt-get install jq)" >&2; exit 1; }

if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
	echo "mkbundle: $dir exists and is not empty" >&2; exit 1
fi
mkdir -p "$dir"
chmod 755 "$dir"
rootfs=$dir/rootfs

# Root filesystem.
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,tmp,root,home/test,var,run,mnt}
chmod 755 "$rootfs"
chmod 1777 "$rootfs/tmp"
chmod 700 "$rootfs/root"
chmod 555 "$rootfs/proc" "$rootfs/sys"
cp "$busybox" "$rootfs/bin/busybox"
chmod 755 "$rootfs/bin/busybox"
"$busybox" --list-full | while read -r applet; do
	case $applet in
	bin/busybox) ;;
	bin/*|sbin/*|usr/bin/*|usr/sbin/*) ln -sf /bin/busybox "$rootfs/$applet" ;;
	esac
done
cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
test:x:1000:1000:test user:/home/test:/bin/sh
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
tty:x:5:
users:x:100:test
test:x:1000:
nogroup:x:65534:
EOF
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$rootfs/etc/hosts"
echo busybox >"$rootfs/etc/hostname"
: >"$rootfs/etc/resolv.conf"
if [ "$(id -u)" = 0 ]; then chown 1000:1000 "$rootfs/home/test"; fi

# config.json: from hutch-runc when it is built, else the same default here.
here=$(cd "$(dirname "$0")/.." && pwd)
runtime=${HUTCH_RUNC:-$here/bin/hutch-runc}
config=$(mktemp)
trap 'rm -f "$config"' EXIT
if [ -x "$runtime" ] && (cd "$dir" && "$runtime" spec >/dev/null 2>&1) && [ -s "$dir/config.json" ]; then
	mv "$dir/config.json" "$config"
else
	cat >"$config" <<'EOF'
{
	"ociVersion": "1.3.0",
	"process": {
		"terminal": true,
		"user": {"uid": 0, "gid": 0},
		"args": ["sh"],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
		},
		"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
		"noNewPrivileges": true
	},
	"root": {"path": "rootfs", "readonly": true},
	"hostname": "runc",
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
		 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts",
		 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
		{"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
		 "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
		{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
		 "options": ["nosuid", "noexec", "nodev"]},
		{"destination": "/sys", "type": "sysfs", "source": "sysfs",
		 "options": ["nosuid", "noexec", "nodev", "ro"]},
		{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
		 "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
	],
	"linux": {
		"resources": {"devices": [{"allow": false, "access": "rwm"}]},
		"namespaces": [
			{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
			{"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
		],
		"maskedPaths": [
			"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
			"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
			"/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			"/sys/devices/virtual/tpm"
		],
		"readonlyPaths": [
			"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
		]
	}
}
EOF
fi
if [ $# -gt 0 ]; then
	# Each argument is quoted by jq from stdin: given on jq's command line,
	# a "-c" among them would be taken for one of jq's own options.
	args=
	for a in "$@"; do
		args+=${args:+,}$(printf '%s' "$a" | jq -Rs .)
	done
	args="[$args]"
	jq --tab --argjson args "$args" '.process.args = $args | .process.terminal = false' "$config" >"$dir/config.json"
else
	jq --tab . "$config" >"$dir/config.json"
fi
chmod 644 "$dir/config.json"
