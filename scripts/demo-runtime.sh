#!/bin/bash
# demo-runtime.sh: run a busybox container with hutch-runc and show that it lives in
# its own namespaces: its hostname, its PID 1 and its mounts. Run as root after
# `make`. RUNTIME=/usr/sbin/runc scripts/demo-runtime.sh does the same with runc.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
runtime=${RUNTIME:-$here/bin/hutch-runc}
[ -x "$runtime" ] || { echo "demo: $runtime missing: run make first" >&2; exit 1; }

work=$(mktemp -d /tmp/hutch-demo.XXXXXX)
root=$work/state
id=demo-$$
cleanup() {
	"$runtime" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
	# Never cross into a mount a failed run may have left behind.
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

"$here/scripts/mkbundle.sh" "$work/bundle" /bin/sh /demo
cat >"$work/bundle/rootfs/demo" <<'EOF'
echo "hostname: $(hostname)"
echo "PID 1:    $(tr '\0' ' ' </proc/1/cmdline)"
echo "processes:"
ps -o pid,user,args
echo "mounts:"
cat /proc/self/mounts
EOF
jq '.hostname = "hutch-demo"' "$work/bundle/config.json" >"$work/config.json"
mv "$work/config.json" "$work/bundle/config.json"

echo "+ $(basename "$runtime") run --bundle $work/bundle $id"
"$runtime" --root "$root" run --bundle "$work/bundle" "$id"
