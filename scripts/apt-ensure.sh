#!/usr/bin/env bash
# apt-ensure.sh CMD:PACKAGE...  installs each PACKAGE whose CMD is missing.
# It runs apt-get as root. When it cannot install (not root, no apt-get), it
# fails if CI=true, and otherwise says what is missing and goes on.
set -euo pipefail
missing=()
for pair in "$@"; do
	cmd=${pair%%:*}
	pkg=${pair#*:}
	command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	exit 0
fi
echo "missing test tools: ${missing[*]} (install them with apt-get as root)" >&2
[ "${CI:-}" = true ] && exit 1
exit 0
