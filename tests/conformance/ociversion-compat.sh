#!/bin/bash
# ociversion-compat.sh: run $REAL_RUNTIME, first lowering a config.json's
# ociVersion of 1.2 or later to 1.0.2 on create and run.
#
# runtime-tools writes the runtime-spec version it is built with (1.3.0) into
# every config, and crun 1.8 refuses anything from 1.2 on ("unknown version
# specified") before reading the rest. The validation programs use no field
# that crun would need 1.2 for, so run.sh puts this in front of crun to
# measure crun on the tests themselves. Only for anchors: never for hutch.
set -euo pipefail
: "${REAL_RUNTIME:?}"
verb= bundle=.
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case ${args[$i]} in
	create|run) [ -z "$verb" ] && verb=${args[$i]} ;;
	--bundle|-b) bundle=${args[$((i + 1))]}; i=$((i + 1)) ;;
	--bundle=*) bundle=${args[$i]#--bundle=} ;;
	--root|--log|--log-format|--pid-file|--console-socket|--preserve-fds) i=$((i + 1)) ;;
	-*) ;;
	*) [ -z "$verb" ] && verb=other ;;
	esac
done
if [ -n "$verb" ] && [ "$verb" != other ] && [ -f "$bundle/config.json" ]; then
	v=$(jq -r '.ociVersion // ""' "$bundle/config.json")
	case $v in
	1.0*|1.1*|"") ;;
	*)
		tmp=$(mktemp "$bundle/.config.XXXXXX")
		jq '.ociVersion = "1.0.2"' "$bundle/config.json" >"$tmp"
		chmod 644 "$tmp"
		mv "$tmp" "$bundle/config.json"
		;;
	esac
fi
exec "$REAL_RUNTIME" "$@"
