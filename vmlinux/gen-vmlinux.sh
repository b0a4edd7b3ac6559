#!/usr/bin/env bash
# Regenerates vmlinux/<arch>/vmlinux.h from the running kernel's BTF.
# BPF programs are CO-RE: the header only has to describe the types they
# read, and libbpf relocates field offsets at load time, so one committed
# header per architecture serves every kernel with BTF.
set -euo pipefail
arch=$(uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
btf=${1:-/sys/kernel/btf/vmlinux}
out=$(dirname "$0")/$arch/vmlinux.h
[ -r "$btf" ] || { echo "gen-vmlinux: $btf not readable; this kernel has no BTF (CONFIG_DEBUG_INFO_BTF)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
bpftool btf dump file "$btf" format c > "$out.tmp"
mv "$out.tmp" "$out"
echo "gen-vmlinux: wrote $out"
