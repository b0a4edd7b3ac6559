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
	bpftrace python3-numpy python3-torch python3-pip python3-setuptools
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then
		exec sudo "$0" "$@"
	fi
	echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
