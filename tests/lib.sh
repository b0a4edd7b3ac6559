# Sourced by the end-to-end scripts (tests/e2e/*.sh): waiting for something
# to have happened. A test never sleeps a fixed time for a thing to happen,
# since machines differ tenfold in speed and a loaded CI machine more: it
# polls for the thing itself (a line a program printed, a file, a process
# gone) every 0.05 s, up to a deadline that only a stuck test reaches
# (LLMI_WAIT_S, default 120 s).

# wait_for WHAT CMD...: until CMD succeeds. On the deadline prints
# "FAIL: WHAT: not after N s" and returns 1.
wait_for() {
	local what=$1 n=0 max=$((${LLMI_WAIT_S:-120} * 20))
	shift
	until "$@"; do
		n=$((n + 1))
		if [ $n -ge $max ]; then
			echo "FAIL: $what: not after ${LLMI_WAIT_S:-120} s"
			return 1
		fi
		sleep 0.05
	done
}

# has_line FILE PATTERN: FILE exists and a line matches PATTERN (grep -E).
has_line() {
	[ -f "$1" ] && grep -q -E -- "$2" "$1"
}

# wait_line FILE PATTERN [PID]: until a line of FILE matches; with PID, fails
# at once (with FILE shown) if that process ends first without the line.
wait_line() {
	local file=$1 pat=$2 pid=${3:-} n=0 max=$((${LLMI_WAIT_S:-120} * 20))
	until has_line "$file" "$pat"; do
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			has_line "$file" "$pat" && return 0
			[ -f "$file" ] && sed 's/^/  | /' "$file"
			echo "FAIL: pid $pid ended without printing '$pat'"
			return 1
		fi
		n=$((n + 1))
		if [ $n -ge $max ]; then
			[ -f "$file" ] && sed 's/^/  | /' "$file"
			echo "FAIL: no '$pat' in $file after ${LLMI_WAIT_S:-120} s"
			return 1
		fi
		sleep 0.05
	done
}

# need_bpf: exit 77 with the reason unless this process can load BPF
# programs and attach uprobes (root, the bpf() syscall allowed, uprobe events
# in the kernel). Probed independently of llminstr-trace, so that a tracer
# that fails to load its programs fails its tests instead of skipping them.
need_bpf() {
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
	[ -d /sys/bus/event_source/devices/uprobe ] ||
		{ echo "SKIP: this kernel has no uprobe events (CONFIG_UPROBE_EVENTS)"; exit 77; }
	command -v bpftool >/dev/null ||
		{ echo "SKIP: no bpftool to check that BPF is allowed here"; exit 77; }
	bpftool prog show >/dev/null 2>&1 ||
		{ echo "SKIP: the bpf() syscall is refused here (bpftool prog show fails)"; exit 77; }
}

# san_runtime: what an uninstrumented program (python3) must preload to load
# a library of a sanitized tree (build/ is build/san-LIST under LLMI_SAN);
# nothing for a plain tree. Such a program's own leaks are not ours: callers
# add detect_leaks=0 for it.
san_runtime() {
	local r=
	case ",${LLMI_SAN:-none}," in *,none,*) return 0 ;; esac
	case ",$LLMI_SAN," in *,address,*) r="$(${CC:-cc} -print-file-name=libasan.so)" ;; esac
	case ",$LLMI_SAN," in *,undefined,*) r="$r $(${CC:-cc} -print-file-name=libubsan.so)" ;; esac
	echo $r
}

# capture_setup [FILE...]: how the capture tests start: BPF (need_bpf); T, D
# and PY (the tracer, llminstr-dump, the python that has numpy); PRE, what a
# sanitized tree preloads ahead of the agent the tracer preloads; SKIP unless
# the tools, the agent and every FILE are built; a private $tmp removed at
# exit (a caller with more to undo sets its own trap and removes $tmp there);
# rc=0 and fail MSG, which says FAIL and sets rc=1.
capture_setup() {
	local f
	T=build/bin/llminstr-trace D=build/bin/llminstr-dump PY=/usr/bin/python3
	need_bpf
	PRE="$(san_runtime)"
	for f in $T $D build/lib/libllminstr.so "$@"; do
		[ -e "$f" ] || { echo "SKIP: $f not built"; exit 77; }
	done
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	rc=0
	fail() { echo "FAIL: $*"; rc=1; }
}

# damage_tensor SRC DST (after capture_setup): DST is SRC with the payload of
# its middle tensor record broken (four bytes inside the coded blob: the
# record's payload checksum fails, its header still holds).
damage_tensor() {
	local off
	cp "$1" "$2"
	off=$($PY - "$2" <<'PY'
import sys, struct
b = open(sys.argv[1], "rb").read(); off = 4096; tensors = []
while off + 32 <= len(b):
    magic, typ, fl, ln = struct.unpack_from("<IHHQ", b, off)
    if magic != 0x4345524c: break
    if typ == 1: tensors.append((off, ln))
    off += (32 + ln + 7) // 8 * 8
o, ln = tensors[len(tensors) // 2]
print(o + 32 + ln - 16)
PY
)
	printf '\xff\xff\xff\xff' | dd of="$2" bs=1 seek="$off" conv=notrunc status=none
}

# json FILE EXPR (after capture_setup): EXPR of the JSON in FILE (as d), printed.
json() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# capture_check_refs FILE REFDIR N (after capture_setup): REFDIR holds N raw
# tensors NAME.STEP.f32 (llm_decode --reference-dir), and each is in FILE
# and decodes within the default bound (nmse 1e-3) against its reference.
capture_check_refs() {
	local file=$1 ref=$2 n=$3 f b name step
	for f in "$ref"/*.f32; do
		[ -e "$f" ] || break
		b=${f##*/}; b=${b%.f32}; name=${b%.*}; step=${b##*.}
		$D export "$file" --tensor "$name" --step "$step" -o "$tmp/x.npy" --force >/dev/null \
			2>"$tmp/x.err" || { cat "$tmp/x.err"; fail "export $name $step"; continue; }
		$PY - "$f" "$tmp/x.npy" <<'PY' || fail "$name step $step out of bound"
import sys, numpy as np
x = np.fromfile(sys.argv[1], np.float32).astype(np.float64)
y = np.load(sys.argv[2]).astype(np.float64).ravel()
v = x.var()
nmse = ((x - y) ** 2).mean() / v if v > 0 else ((x - y) ** 2).mean()
sys.exit(0 if x.shape == y.shape and nmse <= 1e-3 * (1 + 1e-9) else 1)
PY
	done
	[ "$(ls "$ref" | grep -c '\.f32$')" = "$n" ] || fail "reference files: $(ls "$ref" | wc -l), want $n"
}
