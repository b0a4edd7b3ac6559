#!/usr/bin/env bash
# Installs what building, testing and benchmarking llminstr needs on Debian 12,
# and nothing when all of it is already there. make calls it, so a fresh
# machine needs no step by hand. Runs as root, or through sudo when not.
set -euo pipefail

pkgs=(
	make gcc clang llvm pkg-config
	libbpf-dev bpftool libelf-dev zlib1g-dev
	liburing-dev libzstd-dev liblz4-dev libblosc-dev
	libcmocka-dev libclang-rt-14-dev
	systemtap-sdt-dev
	bpftrace python3-numpy python3-torch python3-pip python3-setuptools python3-pytest
)

# The tests read Arrow exports with Apache Arrow's official JavaScript reader
# (no Arrow is packaged for Debian 12's Python): node, npm and apache-arrow
# in ARROW_JS (tests/e2e/dump_export_arrow.sh finds it there).
ARROW_JS=/usr/local/lib/llminstr-node
command -v npm >/dev/null || pkgs+=(nodejs npm)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
need_js=
[ -d "$ARROW_JS/node_modules/apache-arrow" ] || need_js=1
[ ${#missing[@]} -eq 0 ] && [ -z "$need_js" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then
		exec sudo "$0" "$@"
	fi
	echo "install-deps: missing: ${missing[*]}${need_js:+ apache-arrow (npm)}; run as root to install them" >&2
	exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ -n "$need_js" ]; then
	echo "install-deps: installing apache-arrow (npm) into $ARROW_JS"
	npm install --prefix "$ARROW_JS" --no-audit --no-fund --loglevel=error apache-arrow@21 >/dev/null
fi
