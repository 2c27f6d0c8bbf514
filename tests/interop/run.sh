#!/bin/bash
# tests/interop/run.sh: Docker 20.10 and Podman 4.3 (Debian's packages) run
# their containers with hutch-runc the way their users do.
#
#   tests/interop/run.sh            # both engines, runtime bin/hutch-runc
#   ENGINES=docker tests/interop/run.sh
#   RUNTIME=/usr/sbin/runc tests/interop/run.sh   # calibrate with runc
#   INTEROP_TRACE=1 ...             # log every runtime argv to $T/runtime.log
#   INTEROP_KEEP=1 ...              # keep the temp dir (daemons still stopped)
#   NET="--network host" ...        # lifecycle scenarios without a network namespace
#
# Everything lives under one temp dir: a dockerd (with its own containerd)
# on a private socket, data root and exec root, with the runtime added as
# `hutch`; podman with its own --root/--runroot/--tmpdir and containers.conf.
# Images are imported from a busybox root filesystem built here (no
# registry). Networks: Docker's default bridge docker0 on 10.89.2.0/24
# (--iptables=false), Podman's default network on 10.89.1.0/24 (netavark);
# traffic only between containers on these bridges.
#
# The scenarios run on each engine's default network; NET="--network host"
# runs the lifecycle ones without a network namespace, to tell a network
# bug from the rest. Prints "N passed, M failed"; exits 1 on
# any failure. Cleans up what it started: containers, daemons (by PID),
# mounts, cgroups it created, docker0 and netavark's iptables chains if they
# were not there before.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
RUNTIME=${RUNTIME:-$here/bin/hutch-runc}
ENGINES=${ENGINES:-docker podman}
NET=${NET-}
DOCKER=${DOCKER:-/usr/bin/docker} # Debian's docker.io CLI (not a newer one in /usr/local/bin)
DOCKER_SUBNET=10.89.2.1/24
PODMAN_SUBNET=10.89.1.0/24

[ "$(id -u)" = 0 ] || { echo "interop: must run as root" >&2; exit 2; }
for t in dockerd "$DOCKER" podman conmon jq script timeout iptables ip; do
	command -v "$t" >/dev/null || {
		echo "interop: $t missing (apt-get install docker.io containerd podman jq util-linux iptables iproute2)" >&2
		exit 2
	}
done
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || {
	echo "interop: /bin/busybox is not busybox-static (apt-get install busybox-static)" >&2; exit 2
}
[ -x "$RUNTIME" ] || { echo "interop: runtime $RUNTIME missing (make build)" >&2; exit 2; }
RUNTIME=$(cd "$(dirname "$RUNTIME")" && pwd)/$(basename "$RUNTIME")

T=$(mktemp -d /tmp/hutch-interop.XXXXXX)
chmod 755 "$T"
started=$(date +%s)
passed=0
failed=0
failures=()
dockerd_pid=
docker_ok=0
podman_ok=0

log() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------- cleanup
# What existed before we started, so that only what we made is removed.
cg_roots=$(awk '$9 == "cgroup" || $9 == "cgroup2" {print $5}' /proc/self/mountinfo | sort -u)
cg_made=()
for r in $cg_roots; do
	for n in docker libpod_parent; do
		[ -d "$r/$n" ] || cg_made+=("$r/$n")
	done
done
had_docker0=0
ip link show docker0 >/dev/null 2>&1 && had_docker0=1
# Podman makes /run/netns a shared bind mount of itself, as `ip netns`
# does, and leaves it; the cleanup takes it down when it made it.
had_run_netns=0
mountpoint -q /run/netns 2>/dev/null && had_run_netns=1
# dockerd and netavark use iptables, which (nft backend) makes the tables
# ip nat and ip filter; they are removed at the end when this run made
# them and they hold no rule any more.
had_ipt_tables=$(nft list tables 2>/dev/null | tr "\n" " ")
had_netavark=0
{ iptables -S; iptables -t nat -S; } 2>/dev/null | grep -q NETAVARK && had_netavark=1

# pids_under DIR: processes whose command line mentions DIR (shims, conmon).
pids_under() {
	local p
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline" | grep -qF "$1" && echo "${p#/proc/}"; } 2>/dev/null
	done
	return 0
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if [ "$podman_ok" = 1 ]; then
		timeout 120 "${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1
		timeout 60 "${PODMAN[@]}" network prune -f >/dev/null 2>&1
	fi
	if [ -n "$dockerd_pid" ]; then
		if [ "$docker_ok" = 1 ]; then
			timeout 120 "${D[@]}" ps -aq 2>/dev/null | xargs -r timeout 120 "${D[@]}" rm -f >/dev/null 2>&1
		fi
		kill "$dockerd_pid" 2>/dev/null
		for _ in $(seq 150); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$dockerd_pid" 2>/dev/null
	fi
	# dockerd's containerd, shims and podman's conmons still alive: by PID.
	local pid
	for pid in $(pids_under "$T"); do
		[ "$pid" = $$ ] || kill -9 "$pid" 2>/dev/null
	done
	sleep 0.2
	# Mounts under $T, deepest first (overlay, shm, netns, data-root bind).
	local m
	for m in $(awk -v t="$T" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	# cgroups the engines made (parents docker/, libpod_parent/).
	for m in "${cg_made[@]}"; do
		[ -d "$m" ] && find "$m" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	if [ "$had_docker0" = 0 ] && ip link show docker0 >/dev/null 2>&1; then
		ip link del docker0
	fi
	if [ "$had_run_netns" = 0 ] && mountpoint -q /run/netns 2>/dev/null && [ -z "$(ls -A /run/netns)" ]; then
		umount /run/netns && rmdir /run/netns
	fi
	if [ "$had_netavark" = 0 ]; then
		local tbl chain
		for tbl in filter nat; do
			iptables -t "$tbl" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j NETAVARK' | grep -vE '^-A NETAVARK' |
				sed 's/^-A/-D/' | while read -r rule; do eval iptables -t "$tbl" "$rule"; done
			for chain in $(iptables -t "$tbl" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do
				iptables -t "$tbl" -F "$chain"
			done
			for chain in $(iptables -t "$tbl" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do
				iptables -t "$tbl" -X "$chain"
			done
		done
	fi
	local t  # after the netavark chains are gone
	for t in nat filter; do
		case "$had_ipt_tables" in *"table ip $t "*) continue ;; esac
		if nft list table ip "$t" >/dev/null 2>&1 && [ "$(iptables -t "$t" -S 2>/dev/null | grep -c '^-A')" = 0 ]; then
			nft delete table ip "$t"
		fi
	done
	if [ "${INTEROP_KEEP:-0}" = 1 ]; then
		log "interop: kept $T"
	else
		rm -rf --one-file-system "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- checks
# check NAME WANT_RC WANT_TEXT CMD...: run CMD (60 s at most), pass when its
# exit status is WANT_RC ("any" for any) and its output (stdout+stderr)
# contains WANT_TEXT (empty: anything).
check() {
	local name=$1 want_rc=$2 want=$3; shift 3
	local out rc=0
	if declare -F "$1" >/dev/null; then
		out=$("$@" 2>&1) || rc=$?
	else
		out=$(timeout 60 "$@" 2>&1) || rc=$?
	fi
	if { [ "$want_rc" = any ] || [ "$rc" = "$want_rc" ]; } && { [ -z "$want" ] || grep -qF -- "$want" <<<"$out"; }; then
		passed=$((passed + 1))
		printf 'ok   %s\n' "$name"
	else
		failed=$((failed + 1))
		failures+=("$name")
		printf 'FAIL %s\n     command: %s\n     want rc=%s and output containing %q\n     got rc=%s, output:\n' \
			"$name" "$*" "$want_rc" "$want" "$rc"
		sed -n '1,15s/^/       | /p' <<<"$out"
	fi
}

# check_eq NAME WANT GOT
check_eq() {
	if [ "$2" = "$3" ]; then
		passed=$((passed + 1)); printf 'ok   %s\n' "$1"
	else
		failed=$((failed + 1)); failures+=("$1")
		printf 'FAIL %s\n     want %q\n     got  %q\n' "$1" "$2" "$3"
	fi
}

# tty CMD: run CMD on a 30x100 pseudo-terminal (what a user's terminal is).
tty_run() {
	timeout 60 script -qec "stty cols 100 rows 30; $*" /dev/null </dev/null
}

# cgfile PID CONTROLLER V1FILE V2FILE: the host's view of a cgroup file of
# the cgroup PID is in.
cgfile() {
	local pid=$1 ctl=$2 f1=$3 f2=$4 path
	[ -r "/proc/$pid/cgroup" ] && [ "$pid" != 0 ] || { echo "no such process: $pid"; return 0; }
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		path=$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup")
		cat "/sys/fs/cgroup$path/$f2" 2>&1
	else
		path=$(awk -F: -v c="$ctl" '{n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3}' "/proc/$pid/cgroup")
		local mnt
		mnt=$(awk -v c="$ctl" '$9 == "cgroup" && ("," $NF ",") ~ ("," c ",") {print $5; exit}' /proc/self/mountinfo)
		cat "$mnt$path/$f1" 2>&1
	fi
}
# In-container paths of the same files (the container sees its own cgroup).
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	in_mem=/sys/fs/cgroup/memory.max in_cpu=/sys/fs/cgroup/cpu.max in_pids=/sys/fs/cgroup/pids.max
	want_cpu="50000 100000"
else
	in_mem=/sys/fs/cgroup/memory/memory.limit_in_bytes in_cpu=/sys/fs/cgroup/cpu/cpu.cfs_quota_us in_pids=/sys/fs/cgroup/pids/pids.max
	want_cpu=50000
fi

# ---------------------------------------------------------------- image
log "interop: building busybox image in $T"
mkdir -p "$T/rootfs"
(
	cd "$T/rootfs"
	mkdir -p bin sbin usr/bin usr/sbin etc dev proc sys tmp root home/test var run mnt
	chmod 1777 tmp
	cp /bin/busybox bin/busybox
	/bin/busybox --list-full | while read -r a; do
		case $a in bin/busybox) ;; *) ln -sf /bin/busybox "$a" ;; esac
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\ntest:x:1000:1000:test:/home/test:/bin/sh\n' >etc/passwd
	printf 'root:x:0:\ntty:x:5:\ntest:x:1000:\nnogroup:x:65534:\n' >etc/group
	echo interop-volume >"$T/volume-file"
)
tar -C "$T/rootfs" -cf "$T/busybox.tar" .

# ---------------------------------------------------------------- scenarios
# scenarios ENGINE: the user scenarios for one engine. E is the engine's
# command line, R the flags that choose the runtime.
scenarios() {
	local e=$1 c pid out
	log "== $e: runtime $RUNTIME"

	# Foreground, with the engine's default network and with none.
	check "$e run --rm echo (default network)" 0 hi "${E[@]}" run --rm "${R[@]}" busybox echo hi
	check "$e run --rm --network none" 0 hi "${E[@]}" run --rm "${R[@]}" --network none busybox echo hi
	check "$e run --rm --network host" 0 hi "${E[@]}" run --rm "${R[@]}" --network host busybox echo hi
	check "$e run exit status" 3 "" "${E[@]}" run --rm "${R[@]}" $NET busybox sh -c 'exit 3'
	out=$(echo from-stdin | timeout 60 "${E[@]}" run -i --rm "${R[@]}" $NET busybox cat 2>&1) || true
	check_eq "$e run -i stdin" from-stdin "$out"
	check "$e run --user" 0 "uid=1000(test) gid=1000(test)" "${E[@]}" run --rm "${R[@]}" $NET --user 1000:1000 busybox id
	check "$e run -e -w --hostname" 0 "bar /tmp hh" "${E[@]}" run --rm "${R[@]}" $NET -e FOO=bar -w /tmp --hostname hh \
		busybox sh -c 'echo $FOO $(pwd) $(hostname)'
	check "$e run -v ro volume" 0 interop-volume "${E[@]}" run --rm "${R[@]}" $NET -v "$T/volume-file:/mnt/f:ro" busybox cat /mnt/f
	check "$e run --read-only" 1 "Read-only file system" "${E[@]}" run --rm "${R[@]}" $NET --read-only busybox touch /x
	check "$e run --tmpfs" 0 "1024" "${E[@]}" run --rm "${R[@]}" $NET --tmpfs /run:size=1m busybox df -k /run

	# Terminal: run -it, on a 30x100 terminal. (sleep: the engine resizes
	# the terminal just after start, also with runc.)
	check "$e run -it (terminal)" 0 "/dev/pts/0" tty_run "${E[*]} run -it --rm ${R[*]} $NET busybox sh -c 'sleep 1; tty; stty size'"
	check "$e run -it window size" 0 "30 100" tty_run "${E[*]} run -it --rm ${R[*]} $NET busybox sh -c 'sleep 1; stty size'"

	# Detached, then exec, top, pause, stop, rm.
	c=ia-$e-d1
	check "$e run -d" 0 "" "${E[@]}" run -d --name $c "${R[@]}" $NET busybox sleep 1000
	check "$e inspect running" 0 running "${E[@]}" inspect -f '{{.State.Status}}' $c
	check "$e exec" 0 exec-ok "${E[@]}" exec $c echo exec-ok
	check "$e exec exit status" 7 "" "${E[@]}" exec $c sh -c 'exit 7'
	check "$e exec --user" 0 "uid=1000" "${E[@]}" exec --user 1000 $c id
	check "$e exec -e -w" 0 "baz /tmp" "${E[@]}" exec -e FOO=baz -w /tmp $c sh -c 'echo $FOO $(pwd)'
	out=$(echo exec-stdin | timeout 60 "${E[@]}" exec -i $c cat 2>&1) || true
	check_eq "$e exec -i stdin" exec-stdin "$out"
	check "$e exec -it (terminal)" 0 "/dev/pts/" tty_run "${E[*]} exec -it $c sh -c 'sleep 1; tty; stty size'"
	check "$e exec -it window size" 0 "30 100" tty_run "${E[*]} exec -it $c sh -c 'sleep 1; stty size'"
	check "$e exec -d" 0 "" "${E[@]}" exec -d $c sleep 77
	sleep 0.5
	check "$e top" 0 "sleep 1000" "${E[@]}" top $c
	check "$e top sees exec -d" 0 "sleep 77" "${E[@]}" top $c
	check "$e pause" 0 "" "${E[@]}" pause $c
	check "$e inspect paused" 0 paused "${E[@]}" inspect -f '{{.State.Status}}' $c
	pid=$("${E[@]}" inspect -f '{{.State.Pid}}' $c 2>/dev/null || echo 0)
	if [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
		check_eq "$e pause froze the cgroup" FROZEN "$(cgfile "$pid" freezer freezer.state x)"
	fi
	check "$e unpause" 0 "" "${E[@]}" unpause $c
	check "$e exec after unpause" 0 exec-ok "${E[@]}" exec $c echo exec-ok
	check "$e kill -s USR1 (ignored by PID 1)" 0 "" "${E[@]}" kill -s USR1 $c
	check "$e still running" 0 running "${E[@]}" inspect -f '{{.State.Status}}' $c
	check "$e restart" 0 "" "${E[@]}" restart -t 1 $c
	check "$e running after restart" 0 running "${E[@]}" inspect -f '{{.State.Status}}' $c
	check "$e stop" 0 "" "${E[@]}" stop -t 1 $c
	check "$e inspect exited" 0 "exited 137" "${E[@]}" inspect -f '{{.State.Status}} {{.State.ExitCode}}' $c
	check "$e start again" 0 "" "${E[@]}" start $c
	check "$e kill" 0 "" "${E[@]}" kill $c
	check "$e wait after kill" 0 137 "${E[@]}" wait $c
	check "$e rm" 0 "" "${E[@]}" rm $c
	check "$e rm is gone" any "such object" "${E[@]}" inspect $c

	# Logs of a detached container.
	c=ia-$e-logs
	"${E[@]}" run -d --name $c "${R[@]}" $NET busybox sh -c 'echo log-line; exit 5' >/dev/null 2>&1 || true
	check "$e wait" 0 5 "${E[@]}" wait $c
	check "$e logs" 0 log-line "${E[@]}" logs $c
	"${E[@]}" rm -f $c >/dev/null 2>&1 || true

	# Resources: the values land in the container's cgroup (host view) and
	# the container sees its own cgroup at /sys/fs/cgroup.
	c=ia-$e-res
	check "$e run -d --memory --cpus --pids-limit" 0 "" "${E[@]}" run -d --name $c "${R[@]}" $NET \
		--memory 64m --cpus 0.5 --pids-limit 50 busybox sleep 1000
	pid=$("${E[@]}" inspect -f '{{.State.Pid}}' $c 2>/dev/null || echo 0)
	check_eq "$e --memory 64m (host cgroup)" 67108864 "$(cgfile "$pid" memory memory.limit_in_bytes memory.max)"
	check_eq "$e --cpus 0.5 (host cgroup)" "$want_cpu" "$(cgfile "$pid" cpu cpu.cfs_quota_us cpu.max)"
	check_eq "$e --pids-limit 50 (host cgroup)" 50 "$(cgfile "$pid" pids pids.max pids.max)"
	check "$e --memory seen inside" 0 67108864 "${E[@]}" exec $c cat $in_mem
	check "$e --cpus seen inside" 0 "$want_cpu" "${E[@]}" exec $c cat $in_cpu
	check "$e --pids-limit seen inside" 0 50 "${E[@]}" exec $c cat $in_pids
	check "$e update --memory" 0 "" "${E[@]}" update --memory 128m --memory-swap 256m $c
	check_eq "$e update --memory (host cgroup)" 134217728 "$(cgfile "$pid" memory memory.limit_in_bytes memory.max)"
	check "$e rm -f" 0 "" "${E[@]}" rm -f $c
	check "$e --pids-limit enforced" 2 "can't fork" "${E[@]}" run --rm "${R[@]}" $NET --pids-limit 10 busybox sh -c \
		'i=0; while [ $i -lt 20 ]; do sleep 5 & i=$((i+1)); done; echo all-forked'

	# Networks: none has only lo; the default network carries TCP between
	# two containers on the engine's bridge.
	check "$e --network none: only lo" 0 "<lo>" "${E[@]}" run --rm "${R[@]}" --network none busybox sh -c 'echo "<$(ls /sys/class/net)>"'
	c=ia-$e-srv
	if timeout 60 "${E[@]}" run -d --name $c "${R[@]}" busybox \
		sh -c 'echo hello-net >/tmp/index.html; exec httpd -f -p 8080 -h /tmp' >/dev/null 2>&1; then
		local ip
		ip=$("${E[@]}" inspect -f '{{.NetworkSettings.IPAddress}}' $c 2>/dev/null || true)
		check "$e default network: TCP between containers" 0 hello-net "${E[@]}" run --rm "${R[@]}" busybox \
			sh -c "for i in 1 2 3 4 5; do wget -qO- http://$ip:8080/index.html && exit 0; sleep 0.3; done; exit 1"
	else
		check "$e default network: server container" 0 "" "${E[@]}" run -d --name $c-2 "${R[@]}" busybox true
	fi
	"${E[@]}" rm -f $c $c-2 >/dev/null 2>&1 || true
	return 0
}

# ---------------------------------------------------------------- docker
start_docker() {
	local d=$T/docker
	mkdir -p "$d/data" "$d/exec" "$d/cli"
	echo '{}' >"$d/daemon.json"
	D=("$DOCKER" --config "$d/cli" -H "unix://$d/docker.sock")
	dockerd --config-file "$d/daemon.json" --data-root "$d/data" --exec-root "$d/exec" \
		-H "unix://$d/docker.sock" --pidfile "$d/docker.pid" \
		--add-runtime "hutch=$RUNTIME" --iptables=false --ip-masq=false --userland-proxy=false \
		--bip "$DOCKER_SUBNET" --storage-driver overlay2 >"$d/dockerd.log" 2>&1 &
	dockerd_pid=$!
	local i
	for i in $(seq 300); do
		"${D[@]}" version >/dev/null 2>&1 && break
		kill -0 "$dockerd_pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! "${D[@]}" version >/dev/null 2>&1; then
		log "interop: dockerd did not start:"; tail -20 "$d/dockerd.log" >&2
		return 1
	fi
	docker_ok=1
	"${D[@]}" import "$T/busybox.tar" busybox:latest >/dev/null
}

# ---------------------------------------------------------------- podman
start_podman() {
	local p=$T/podman
	mkdir -p "$p/root" "$p/runroot" "$p/tmp" "$p/networks"
	# Debian's containers.conf (CONTAINERS_CONF replaces it, and users get
	# its default_sysctls), plus: cgroupfs and file events (no systemd
	# here); default_ulimits because Podman (rootful) asks for nofile
	# 1048576 and nproc 32768, which no runtime can set without
	# CAP_SYS_RESOURCE (runc and crun fail the same way); our own network
	# config dir and subnet.
	local distro=/usr/share/containers/containers.conf
	[ -f "$distro" ] || distro=/dev/null
	awk -v net="$p/networks" -v subnet="$PODMAN_SUBNET" '
		{ print }
		/^\[containers\]/ && !c++ { print "default_ulimits = [\"nofile=20000:20000\", \"nproc=1024:1024\"]" }
		/^\[engine\]/ && !e++ { print "cgroup_manager = \"cgroupfs\""; print "events_logger = \"file\"" }
		/^\[network\]/ && !n++ { print "network_config_dir = \"" net "\""; print "default_subnet = \"" subnet "\"" }
		END {
			if (!c) { print "[containers]"; print "default_ulimits = [\"nofile=20000:20000\", \"nproc=1024:1024\"]" }
			if (!e) { print "[engine]"; print "cgroup_manager = \"cgroupfs\""; print "events_logger = \"file\"" }
			if (!n) { print "[network]"; print "network_config_dir = \"" net "\""; print "default_subnet = \"" subnet "\"" }
		}' "$distro" >"$p/containers.conf"
	export CONTAINERS_CONF=$p/containers.conf
	PODMAN=(podman --root "$p/root" --runroot "$p/runroot" --tmpdir "$p/tmp" --storage-driver overlay)
	podman_ok=1
	"${PODMAN[@]}" import "$T/busybox.tar" localhost/busybox:latest >/dev/null 2>&1
}

# The runtime as each engine is told about it: a copy of the path, or a
# logging wrapper when INTEROP_TRACE=1.
rt=$RUNTIME
if [ "${INTEROP_TRACE:-0}" = 1 ]; then
	mkdir -p "$T/trace"
	# The wrapper is named like the runtime: hutch dispatches on argv[0].
	cat >"$T/trace/$(basename "$RUNTIME")" <<-EOF
	#!/bin/bash
	echo "\$(date +%T.%N) \$\$ argv: \$*" >>"$T/runtime.log"
	"$RUNTIME" "\$@"; rc=\$?
	echo "\$(date +%T.%N) \$\$ rc=\$rc" >>"$T/runtime.log"
	exit \$rc
	EOF
	chmod 755 "$T/trace/$(basename "$RUNTIME")"
	rt=$T/trace/$(basename "$RUNTIME")
	RUNTIME=$rt
fi

# archives_docker: `docker save` loads into hutch with the same image ID,
# and hutch's `save` loads into Docker (docker-archive both ways).
archives_docker() {
	local hutch=$here/bin/hutch hroot=$T/hutch-images
	"${D[@]}" save -o "$T/docker-save.tar" busybox:latest
	check "docker save archive loads into hutch" 0 "Loaded image" "$hutch" --root "$hroot" load -i "$T/docker-save.tar"
	check_eq "docker save archive keeps its image ID in hutch" \
		"$("${D[@]}" image inspect --format '{{.Id}}' busybox:latest)" \
		"$("$hutch" --root "$hroot" inspect --format '{{.Id}}' busybox:latest 2>&1)"
	"$hutch" --root "$hroot" import "$T/busybox.tar" localhost/fromhutch:1 >/dev/null
	"$hutch" --root "$hroot" save -o "$T/hutch-save.tar" localhost/fromhutch:1
	check "hutch save archive loads into docker" 0 "localhost/fromhutch:1" "${D[@]}" load -i "$T/hutch-save.tar"
	check_eq "hutch save archive keeps its image ID in docker" \
		"$("$hutch" --root "$hroot" inspect --format '{{.Id}}' localhost/fromhutch:1)" \
		"$("${D[@]}" image inspect --format '{{.Id}}' localhost/fromhutch:1 2>&1)"
	"${D[@]}" rmi localhost/fromhutch:1 >/dev/null 2>&1 || true
	# hutch's root may hold overlay mounts only while unpacking; none now.
	rm -rf --one-file-system "$hroot"
}

for engine in $ENGINES; do
	case $engine in
	docker)
		if start_docker; then
			E=("${D[@]}")
			case $(basename "$RUNTIME") in
			runc) R=(--runtime runc) ;; # calibration: Docker's own runc
			*) R=(--runtime hutch) ;;
			esac
			check "docker: engine up, image imported" 0 busybox "${D[@]}" images
			archives_docker
			scenarios docker
		else
			check "docker: dockerd starts" 0 "" false
		fi
		;;
	podman)
		start_podman
		E=("${PODMAN[@]}" --runtime "$RUNTIME")
		R=()
		check "podman: image imported" 0 busybox "${PODMAN[@]}" images
		scenarios podman
		;;
	*) log "interop: unknown engine $engine"; exit 2 ;;
	esac
done

# Nothing of the runtime's left behind once the engines removed everything.
if [ "$docker_ok" = 1 ]; then
	"${D[@]}" ps -aq | xargs -r "${D[@]}" rm -f >/dev/null 2>&1 || true
	check_eq "docker: no runtime state left" "" "$(ls "$T/docker/exec/runtime-runc/moby" 2>/dev/null)"
fi
if [ "$podman_ok" = 1 ]; then
	"${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1 || true
	left=""
	for s in /run/hutch-runc /run/runc; do
		[ -d $s ] && for id in $(ls -A $s); do
			[ -e "$T/podman/root/overlay-containers/$id" ] && left+="$s/$id "
		done
	done
	check_eq "podman: no runtime state left" "" "$left"
fi
for r in $cg_roots; do
	for m in "$r/docker" "$r/libpod_parent"; do
		[ -d "$m" ] || continue
		left=$(find "$m" -mindepth 1 -type d \( -name '*[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*' \) 2>/dev/null | head -3)
		check_eq "no container cgroup left in $m" "" "$left"
	done
done

echo
echo "interop: $(($(date +%s) - started)) s, runtime $RUNTIME"
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
