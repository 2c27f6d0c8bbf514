#!/bin/bash
# deps.sh: install what building and testing Hutch needs on Debian 12, then
# fetch the Go modules. Run as root. `make deps` runs this; so does .ci/run.
set -euo pipefail

# Build: make, pkg-config and libseccomp-dev (cgo for runtime/seccomp).
# Tests: busybox-static (container root filesystems), jq (scripts), iproute2
# and nftables (network tests clean up and inspect with ip and nft), procps
# (hutch top runs the host's ps).
# Anchors: runc and crun (conformance and benchmark baselines), hyperfine (bench),
# iperf3 (bench/network.sh: throughput through a bridge).
# cgroup v2 tests (tests/cgroup2/run.sh): qemu-system-x86 and cpio boot a
# qemu guest on linux-image-amd64's kernel (installed under /boot and
# /lib/modules; the running kernel is not touched).
# Interop tests (tests/interop/run.sh): Docker and Podman from Debian, with
# hutch-runc as their runtime. Image tests: docker-registry (a real registry
# on 127.0.0.1), skopeo and umoci (reference tools to compare against).
PACKAGES=(
	make pkg-config libseccomp-dev
	busybox-static jq iproute2 util-linux nftables procps
	runc crun hyperfine iperf3
	qemu-system-x86 linux-image-amd64 cpio
	docker.io containerd podman
	docker-registry skopeo umoci
)

if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: run as root (it calls apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Installing docker.io, containerd or podman must not start their daemons
# on this machine (the tests start their own, in temporary directories):
# a policy-rc.d that says "no" for the time of the install, unless the
# machine already has one.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -q
apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"

cd "$(dirname "$0")/.."
go mod download
