#!/usr/bin/env bash
# llminstr-dump's outputs never destroy data: for export, pack and perfetto,
# - an existing -o file is refused (exit 3, one line naming it and saying
#   --force replaces it) and left as it was; --force replaces it;
# - a symbolic link is refused even with --force, its target untouched;
# - a missing directory, a directory, /dev/null: one line each, exit 3;
# - a command that fails after creating its output leaves nothing behind.
# (An unwritable directory is checked as an unprivileged user in
# nonroot_tools.sh.) LLMI_DUMP=path runs another llminstr-dump build.
set -uo pipefail
cd "$(dirname "$0")/../.."
D=${LLMI_DUMP:-build/bin/llminstr-dump}
[ -x "$D" ] || { echo "FAIL: $D not built (run make)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect RC DESC CMD...: exit RC, and when RC != 0 exactly one stderr line.
expect() {
	local want=$1 desc=$2; shift 2
	"$@" >"$T/out" 2>"$T/err"
	local rc=$? n
	n=$(wc -l <"$T/err")
	if [ $rc -ne "$want" ]; then fail "$desc: exit $rc, expected $want: $(head -c 300 "$T/err")"; return 1; fi
	if [ "$want" -ne 0 ] && [ "$n" -ne 1 ]; then fail "$desc: $n lines on stderr"; cat "$T/err"; return 1; fi
	echo "ok ($rc) $desc${1:+: $(head -n 1 "$T/err")}"
}
said() { grep -q -- "$1" "$T/err" || fail "$2: stderr does not say '$1': $(cat "$T/err")"; }

head -c 8192 /dev/urandom | tr '\377' '\077' >"$T/in.raw"	# bf16 without NaN or Inf
$D pack --dtype bf16 --shape 64x64 --codec lossless "$T/in.raw" -o "$T/src.llmi" >/dev/null ||
	{ echo "FAIL: pack"; exit 1; }

# cmd NAME OUT [--force]: the command NAME writing OUT.
cmd() {
	local name=$1 out=$2; shift 2
	case $name in
	export) $D export "$T/src.llmi" --tensor 0 -o "$out" "$@" ;;
	pack) $D pack --dtype bf16 --shape 64x64 --codec quant:nmse=1e-3 "$T/in.raw" -o "$out" "$@" ;;
	perfetto) $D perfetto "$T/src.llmi" -o "$out" "$@" ;;
	esac
}

mkdir "$T/adir"
for c in export pack perfetto; do
	out=$T/$c.out
	echo "precious $c" >"$out"
	sum=$(md5sum <"$out")
	expect 3 "$c onto an existing file" cmd $c "$out" &&
		said "$out exists; --force replaces it" "$c onto an existing file"
	[ "$(md5sum <"$out")" = "$sum" ] || fail "$c changed an existing file without --force"
	expect 0 "$c --force onto an existing file" cmd $c "$out" --force
	grep -q "precious" "$out" && fail "$c --force did not replace the file"
	[ -s "$out" ] || fail "$c --force left an empty file"

	echo keep >"$T/victim"
	ln -sf victim "$T/$c.link"
	for f in "" --force; do
		expect 3 "$c onto a symbolic link $f" cmd $c "$T/$c.link" $f &&
			said "is a symbolic link" "$c onto a link $f"
	done
	[ "$(cat "$T/victim")" = keep ] || fail "$c wrote through a symbolic link"
	[ -L "$T/$c.link" ] || fail "$c replaced the symbolic link"

	expect 3 "$c into a missing directory" cmd $c "$T/nodir/x" &&
		said "directory $T/nodir does not exist" "$c into a missing directory"
	for f in "" --force; do
		expect 3 "$c onto a directory $f" cmd $c "$T/adir" $f && said "is a directory" "$c onto a directory"
		expect 3 "$c onto /dev/null $f" cmd $c /dev/null $f &&
			said "/dev/null is not a regular file" "$c onto /dev/null $f"
	done
	[ -d "$T/adir" ] && [ -c /dev/null ] || fail "$c replaced a directory or /dev/null"
done

# Failures after the output was created leave nothing: export of a damaged
# tensor (its payload cut by a flipped bit), pack of an input that is not
# the size its shape says (checked before the output is created).
cp "$T/src.llmi" "$T/bad.llmi"
printf '\x5a' | dd of="$T/bad.llmi" bs=1 seek=$((4096 + 32 + 300 + 1000)) conv=notrunc status=none
expect 1 "export of a damaged tensor" $D export "$T/bad.llmi" --tensor 0 -o "$T/bad.npy"
[ -e "$T/bad.npy" ] && fail "a failed export left its output"
expect 2 "pack of an input of the wrong size" $D pack --dtype bf16 --shape 64x65 --codec lossless "$T/in.raw" -o "$T/wrong.llmi"
[ -e "$T/wrong.llmi" ] && fail "a failed pack left its output"

# --help says it.
for c in export pack perfetto; do
	$D $c --help | grep -q -- "--force" || fail "$c --help does not describe --force"
done
$D --help | grep -q "unless --force" || fail "llminstr-dump --help does not say outputs are refused without --force"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "dump_outputs: all passed"
