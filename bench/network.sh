#!/bin/bash
# network.sh: issue 6's two speed targets, side by side on one machine:
#  1. TCP throughput (iperf3, one stream, -t DURATION) between two hutch
#     containers on a bridge network, against the same path made by hand
#     with `ip`: two namespaces, a veth pair each into a Linux bridge,
#     addresses on a private /24, the same MTU as hutch's bridge. Rounds
#     interleaved (the order alternates); loopback inside one of the hand
#     namespaces as a reference. Target: hutch >= 0.95x the hand-made path.
#  2. Time to attach a namespace to a bridge (veth, address, route, rules):
#     hutch's network.Manager.Attach/Detach in-process (bench/netattach)
#     against Podman's netavark setup/teardown (one process each, as Podman
#     runs it), interleaved, without and with one published port.
#     Target: hutch's attach <= 0.25x netavark's.
#
#   bench/network.sh        (as root; `make bench-network`)
#
# Environment: HUTCH (default bin/hutch), ROUNDS (throughput rounds,
# default 10), DURATION (seconds per iperf3 test, 5), ATTACH_ROUNDS (30),
# NETAVARK (/usr/lib/podman/netavark), WORK (bench/_work/network).
#
# Everything made here is named hbn* (bridges hbnhutch0, hbnbr0, hbnattach0,
# hbnnvark0; namespaces hbn-a, hbn-b; veths hbn-va, hbn-vb; containers
# hbn-srv, hbn-cli; nftables tables inet hutch-bench-net and
# hutch-bench-attach) on 10.91.1-11.0/24, and removed by name at the end,
# failed or not, with the iptables chains netavark made that were not there
# before. Traffic goes only between these namespaces (and to 127.0.0.1
# inside one of them): nothing leaves the machine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
WORK=${WORK:-$here/_work/network}
HUTCH=${HUTCH:-$repo/bin/hutch}
ROUNDS=${ROUNDS:-10}
DURATION=${DURATION:-5}
ATTACH_ROUNDS=${ATTACH_ROUNDS:-30}
NETAVARK=${NETAVARK:-/usr/lib/podman/netavark}
GO=${GO:-go}

# Names and subnets: ours only.
H_BRIDGE=hbnhutch0 H_SUBNET=10.91.1.0/24 H_TABLE=hutch-bench-net
M_BRIDGE=hbnbr0 M_NET=10.91.2 NS_A=hbn-a NS_B=hbn-b VETH_A=hbn-va VETH_B=hbn-vb
A_BRIDGE=hbnattach0 A_SUBNET=10.91.10.0/24 A_TABLE=hutch-bench-attach
NV_BRIDGE=hbnnvark0 NV_SUBNET=10.91.11.0/24

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
for t in jq iperf3 ip nft iptables iptables-save ldd "$GO"; do
	command -v "$t" >/dev/null || die "$t missing (scripts/deps.sh)"
done
[ -x "$NETAVARK" ] || die "$NETAVARK missing (apt-get install podman)"
[ -x "$HUTCH" ] || die "$HUTCH missing: run make first"
for l in $H_BRIDGE $M_BRIDGE $A_BRIDGE $NV_BRIDGE $VETH_A $VETH_B; do
	! ip link show "$l" >/dev/null 2>&1 || die "interface $l exists: another run, or left over (ip link del $l)"
done
for n in $NS_A $NS_B; do
	[ ! -e "/run/netns/$n" ] || die "netns $n exists: another run, or left over (ip netns del $n)"
done
! ip route | grep -q '^10\.91\.' || die "the host routes 10.91.x.0: pick other subnets"

rm -rf --one-file-system "$WORK"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
export HUTCH_DEFAULT_BRIDGE=$H_BRIDGE HUTCH_DEFAULT_SUBNET=$H_SUBNET HUTCH_NFT_TABLE=$H_TABLE
H=("$HUTCH" --root "$WORK/hutch/root" --runroot "$WORK/hutch/run")
# iptables chains present before: netavark's global chains made by this
# run (it never removes them) are deleted at the end, others' are kept.
iptables-save >"$WORK/iptables-before"

srv_pid=
iptables_cleanup() {
	local t c line
	for t in nat filter mangle; do
		local new=()
		for c in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do
			grep -q "^:$c " "$WORK/iptables-before" || new+=("$c")
		done
		# Jumps into the new chains from elsewhere, and any rule naming
		# our subnet or bridge.
		iptables -t "$t" -S 2>/dev/null | grep '^-A ' | while read -r line; do
			local chain=${line#-A } hit=
			chain=${chain%% *}
			for c in "${new[@]}"; do
				[ "$chain" = "$c" ] && continue 2
				case "$line" in *"-j $c"|*"-j $c "*) hit=1 ;; esac
			done
			case "$line" in *"$NV_SUBNET"*|*"$NV_BRIDGE"*|*"$A_SUBNET"*) hit=1 ;; esac
			[ -n "$hit" ] && eval "iptables -t $t -D ${line#-A }" 2>/dev/null || true
		done
		for c in "${new[@]}"; do iptables -t "$t" -F "$c" 2>/dev/null || true; done
		for c in "${new[@]}"; do iptables -t "$t" -X "$c" 2>/dev/null || true; done
	done
}
cleanup() {
	set +e
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	"${H[@]}" rm -f hbn-srv hbn-cli >/dev/null 2>&1
	ip netns del $NS_A 2>/dev/null
	ip netns del $NS_B 2>/dev/null
	for l in $VETH_A $VETH_B $M_BRIDGE $H_BRIDGE $A_BRIDGE $NV_BRIDGE; do
		ip link del "$l" 2>/dev/null
	done
	nft delete table inet $H_TABLE 2>/dev/null
	nft delete table inet $A_TABLE 2>/dev/null
	iptables_cleanup
	for m in $(awk -v w="$WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The image: busybox (scripts/mkbundle.sh) plus iperf3 and the shared
# libraries ldd names, the loader included.
"$repo/scripts/mkbundle.sh" "$WORK/bundle" >/dev/null
rootfs=$WORK/bundle/rootfs
cp /usr/bin/iperf3 "$rootfs/usr/bin/iperf3"
for lib in $(ldd /usr/bin/iperf3 | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
	cp -L --parents "$lib" "$rootfs/"
done
tar -C "$rootfs" --numeric-owner -cf "$WORK/iperf3.tar" .
"${H[@]}" import "$WORK/iperf3.tar" hbn-iperf3:bench >/dev/null

echo "== 1. TCP throughput, iperf3 one stream, ${DURATION}s, $ROUNDS rounds"
# hutch: the server container on the default bridge (moved to our own
# bridge, subnet and table by HUTCH_DEFAULT_*, HUTCH_NFT_TABLE).
"${H[@]}" run -d --name hbn-srv hbn-iperf3:bench iperf3 -s >/dev/null
h_ip=$("${H[@]}" inspect -f '{{.NetworkSettings.IPAddress}}' hbn-srv)
[ -n "$h_ip" ] || die "no address for hbn-srv"
mtu=$(cat /sys/class/net/$H_BRIDGE/mtu)

# By hand: the same path with ip.
ip netns add $NS_A
ip netns add $NS_B
ip link add $M_BRIDGE mtu "$mtu" type bridge
ip addr add $M_NET.1/24 dev $M_BRIDGE
ip link set $M_BRIDGE up
# Both ends get the MTU: `mtu` before `type` sets only the first one's, and
# a 1500-byte peer would send larger segments than hutch's eth0 does.
i=2
for p in "$NS_A:$VETH_A" "$NS_B:$VETH_B"; do
	ns=${p%%:*} veth=${p##*:}
	ip link add "$veth" mtu "$mtu" type veth peer name eth0 mtu "$mtu" netns "$ns"
	ip link set "$veth" master $M_BRIDGE up
	ip -n "$ns" addr add $M_NET.$i/24 dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" route add default via $M_NET.1
	i=$((i + 1))
done
for ns in $NS_A $NS_B; do
	ip -n "$ns" link show eth0 | grep -q " mtu $mtu " || die "eth0 in $ns: MTU is not $mtu"
done
ip netns exec $NS_A iperf3 -s >/dev/null 2>&1 &
srv_pid=$!
echo "MTU $mtu (hutch's bridge takes the host's default route's; the hand-made path gets the same)"

# A client that fails because the server is not listening yet is retried.
client() { # WHAT OUT CMD...
	local what=$1 out=$2; shift 2
	for try in 1 2 3 4 5; do
		if "$@" >"$out" 2>"$out.err" && jq -e '.end.sum_received.bits_per_second' "$out" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.5
	done
	cat "$out" "$out.err" >&2
	die "$what: iperf3 failed"
}
gbps() { jq -r '.end.sum_received.bits_per_second / 1e9' "$1"; }
run_hutch() { client hutch "$1" "${H[@]}" run --rm --name hbn-cli hbn-iperf3:bench iperf3 -c "$h_ip" -t "$DURATION" -J; }
run_hand() { client hand "$1" ip netns exec $NS_B iperf3 -c $M_NET.2 -t "$DURATION" -J; }
run_lo() { client loopback "$1" ip netns exec $NS_A iperf3 -c 127.0.0.1 -t "$DURATION" -J; }
: >"$WORK/tput"
printf '%-6s %10s %10s %10s  (Gbit/s)\n' round hutch hand loopback
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then
		run_hutch "$WORK/h$r.json"; run_hand "$WORK/m$r.json"
	else
		run_hand "$WORK/m$r.json"; run_hutch "$WORK/h$r.json"
	fi
	run_lo "$WORK/l$r.json"
	h=$(gbps "$WORK/h$r.json") m=$(gbps "$WORK/m$r.json") l=$(gbps "$WORK/l$r.json")
	echo "$h $m $l" >>"$WORK/tput"
	printf '%-6s %10.2f %10.2f %10.2f\n' "$r" "$h" "$m" "$l"
done
read -r t_h t_m t_l t_r < <(awk '{h += $1; m += $2; l += $3} END {printf "%.2f %.2f %.2f %.3f\n", h/NR, m/NR, l/NR, h/m}' "$WORK/tput")
# The load of a shared machine comes in bursts: the median of the rounds'
# own ratios (hutch and by hand run back to back) is steadier than the
# ratio of the means.
t_med=$(awk '{print $1 / $2}' "$WORK/tput" | sort -g | awk '{v[NR] = $1} END {printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')

echo
echo "== 2. attach + detach: hutch's network package against netavark, $ATTACH_ROUNDS rounds"
(cd "$repo" && "$GO" build -o "$WORK/netattach" ./bench/netattach)
na=("$WORK/netattach" -rounds "$ATTACH_ROUNDS" -netavark "$NETAVARK"
	-bridge $A_BRIDGE -subnet $A_SUBNET -table $A_TABLE -nv-bridge $NV_BRIDGE -nv-subnet $NV_SUBNET)
"${na[@]}" -work "$WORK/attach" | tee "$WORK/attach.out"
"${na[@]}" -work "$WORK/attach-p" -publish | tee "$WORK/attach-p.out"
mean_of() { awk -v w="$2" '$0 ~ "^  "w" " {print $(NF-4)}' "$1"; }

echo
echo "== hutch against the hand-made path and netavark (targets: throughput >= 0.95, attach <= 0.25)"
printf 'TCP throughput      hutch %6.2f Gbit/s  by hand %6.2f Gbit/s  ratio %s   (median of per-round ratios %s; loopback %s)\n' "$t_h" "$t_m" "$t_r" "$t_med" "$t_l"
for f in attach attach-p; do
	label="attach"; [ $f = attach-p ] && label="attach, 1 port"
	ha=$(mean_of "$WORK/$f.out" "hutch Attach") nv=$(mean_of "$WORK/$f.out" "netavark setup")
	hb=$(mean_of "$WORK/$f.out" "hutch both") nb=$(mean_of "$WORK/$f.out" "netavark both")
	printf '%-19s hutch %6.2f ms       netavark %6.2f ms    ratio %s   (with detach: %s / %s ms, ratio %s)\n' "$label" "$ha" "$nv" \
		"$(awk -v a="$ha" -v b="$nv" 'BEGIN {printf "%.3f", a/b}')" "$hb" "$nb" \
		"$(awk -v a="$hb" -v b="$nb" 'BEGIN {printf "%.3f", a/b}')"
done
