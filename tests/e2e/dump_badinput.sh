#!/usr/bin/env bash
# llminstr-dump on bad arguments: wrong dtype or shape for pack, a size that
# does not match the shape, bounds <= 0, NaN or Inf, unknown options and
# commands, outputs at a symbolic link. Each exits non-zero with exactly one
# line on stderr and creates no output; --help of every command exits 0.
set -uo pipefail
cd "$(dirname "$0")/../.."
D=build/bin/llminstr-dump
[ -x "$D" ] || { echo "FAIL: $D not built (run make)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

one_line() {	# DESC CMD...
	local desc=$1; shift
	"$@" >"$T/out" 2>"$T/err"
	local rc=$? n
	n=$(wc -l <"$T/err")
	if [ $rc -eq 0 ]; then fail "$desc: exit 0"; return; fi
	if [ $rc -ge 128 ]; then fail "$desc: killed by signal $((rc - 128))"; return; fi
	if [ "$n" -ne 1 ]; then fail "$desc: $n lines on stderr"; cat "$T/err"; return; fi
	echo "ok ($rc) $desc: $(cat "$T/err")"
}

head -c 4096 /dev/zero >"$T/in.raw"	# 1024 f32, 2048 bf16
P="$D pack"
one_line "dtype f64"        $P --dtype f64 --shape 1024 --codec lossless "$T/in.raw" -o "$T/o.llmi"
one_line "dtype empty"      $P --dtype "" --shape 1024 --codec lossless "$T/in.raw" -o "$T/o.llmi"
one_line "shape mismatch"   $P --dtype f32 --shape 32x33 --codec lossless "$T/in.raw" -o "$T/o.llmi"
one_line "shape bf16 size"  $P --dtype bf16 --shape 1024 --codec lossless "$T/in.raw" -o "$T/o.llmi"
one_line "shape zero dim"   $P --dtype f32 --shape 0x1024 --codec lossless "$T/in.raw" -o "$T/o.llmi"
one_line "shape negative"   $P --dtype f32 --shape -1x1024 --codec lossless "$T/in.raw" -o "$T/o.llmi"
one_line "shape text"       $P --dtype f32 --shape 32xabc --codec lossless "$T/in.raw" -o "$T/o.llmi"
one_line "shape 9 dims"     $P --dtype f32 --shape 1x1x1x1x1x1x1x1x1024 --codec lossless "$T/in.raw" -o "$T/o.llmi"
one_line "shape overflow"   $P --dtype f32 --shape 4294967296x4294967296x16 --codec lossless "$T/in.raw" -o "$T/o.llmi"
for b in 0 -1 nan NaN inf -inf 1e-3x "" 0x0; do
	one_line "bound '$b'"  $P --dtype f32 --shape 1024 --codec "quant:nmse=$b" "$T/in.raw" -o "$T/o.llmi"
done
one_line "codec unknown"    $P --dtype f32 --shape 1024 --codec zstd "$T/in.raw" -o "$T/o.llmi"
one_line "no input"         $P --dtype f32 --shape 1024 --codec lossless -o "$T/o.llmi"
one_line "input missing"    $P --dtype f32 --shape 1024 --codec lossless "$T/nope.raw" -o "$T/o.llmi"
one_line "input is a dir"   $P --dtype f32 --shape 1024 --codec lossless "$T" -o "$T/o.llmi"
one_line "no -o"            $P --dtype f32 --shape 1024 --codec lossless "$T/in.raw"
one_line "step text"        $P --dtype f32 --shape 1024 --codec lossless --step x "$T/in.raw" -o "$T/o.llmi"
[ -e "$T/o.llmi" ] && fail "a failed pack left $T/o.llmi"

# Outputs are never written through a symbolic link.
echo keep >"$T/victim"
ln -s victim "$T/link.llmi"
one_line "pack to a symlink" $P --dtype f32 --shape 1024 --codec lossless "$T/in.raw" -o "$T/link.llmi"
$P --dtype f32 --shape 1024 --codec lossless "$T/in.raw" -o "$T/ok.llmi" >/dev/null || fail "good pack"
ln -s victim "$T/link.npy"
one_line "export to a symlink" $D export "$T/ok.llmi" --tensor 0 -o "$T/link.npy"
ln -s victim "$T/link.json"
one_line "perfetto to a symlink" $D perfetto "$T/ok.llmi" -o "$T/link.json"
[ "$(cat "$T/victim")" = keep ] || fail "a link target was written"

# Under sudo, outputs belong to the user who ran sudo (checked as root only).
if [ "$(id -u)" -eq 0 ]; then
	SUDO_UID=65534 SUDO_GID=65534 $P --dtype f32 --shape 1024 --codec lossless "$T/in.raw" -o "$T/sudo.llmi" >/dev/null ||
		fail "pack under SUDO_UID"
	[ "$(stat -c %u:%g "$T/sudo.llmi")" = 65534:65534 ] || fail "pack under sudo: owner $(stat -c %u:%g "$T/sudo.llmi")"
	SUDO_UID=65534 SUDO_GID=65534 $D export "$T/ok.llmi" --tensor 0 -o "$T/sudo.npy" >/dev/null || fail "export under SUDO_UID"
	[ "$(stat -c %u:%g "$T/sudo.npy")" = 65534:65534 ] || fail "export under sudo: owner $(stat -c %u:%g "$T/sudo.npy")"
fi

one_line "export no --tensor" $D export "$T/ok.llmi" -o "$T/x.npy"
one_line "export bad id"      $D export "$T/ok.llmi" --tensor 99 -o "$T/x.npy"
one_line "export bad name"    $D export "$T/ok.llmi" --tensor nosuch -o "$T/x.npy"
one_line "unknown command"    $D frobnicate
one_line "no command"         $D
one_line "unknown option"     $D info "$T/ok.llmi" --frob
one_line "two files"          $D verify "$T/ok.llmi" "$T/ok.llmi"

for c in info ls export pack verify perfetto; do
	$D $c --help >"$T/out" 2>&1 || fail "$c --help exits non-zero"
	grep -q "Usage: llminstr-dump $c" "$T/out" || fail "$c --help prints no usage"
done
$D --help | grep -q EXAMPLES || fail "--help has no examples"

out=$($D perfetto "$T/ok.llmi" -o "$T/t.json") || fail "perfetto"
echo "$out" | grep -q "no event records" || fail "perfetto does not say 'no event records': $out"
/usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/t.json" || fail "perfetto JSON does not parse"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "dump_badinput: all passed"
