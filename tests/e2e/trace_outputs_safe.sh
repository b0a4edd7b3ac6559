#!/usr/bin/env bash
# llminstr-trace's outputs (-o, --json, --perfetto) never destroy data:
# an existing file is refused with one line naming it unless --force; a
# symbolic link is refused even with --force; a missing directory, a
# directory, /dev/null and an unwritable place each get one clear line; two
# outputs given one file (however spelt) are refused naming both options;
# a second tracer given the -o file of a running one is refused even with
# --force, and the first one's file stays whole. Every refusal comes before
# anything runs: the command is never started and no output file is left.
set -u
cd "$(dirname "$0")/../.."
T=$PWD/build/bin/llminstr-trace D=$PWD/build/bin/llminstr-dump W=$PWD/build/bin/llm_decode
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
for b in $T $D $W; do [ -x $b ] || { echo "SKIP: $b not built"; exit 77; }; done
tmp=$(mktemp -d); chmod 755 "$tmp"; tp=
trap 'touch "$tmp/go"; [ -n "$tp" ] && wait $tp 2>/dev/null; rm -rf "$tmp"' EXIT
rc=0
fail() { echo "FAIL: $*"; rc=1; }
CMD=(-- sh -c "touch $tmp/started")

# refused: exit 1, one line on stderr matching want, nothing on stdout, the
# command not started
refused() {	# want args...
	local want=$1; shift
	rm -f "$tmp/started"
	(cd "$cwd" && timeout 60 "${pre[@]}" $T "$@") >"$tmp/o" 2>"$tmp/e"; local st=$?
	if [ $st != 1 ] || [ "$(wc -l <"$tmp/e")" != 1 ] || [ -s "$tmp/o" ] ||
	   ! grep -q -- "$want" "$tmp/e" || [ -e "$tmp/started" ]; then
		echo "FAIL: $* (exit $st$([ -e "$tmp/started" ] && echo ', the command ran')):"
		cat "$tmp/e" "$tmp/o"; rc=1
	else
		echo "ok: $(cat "$tmp/e")"
	fi
}
pre=() cwd=$PWD

echo "== an existing file: refused unless --force"
for opt in -o --json --perfetto; do
	f=$tmp/exists$opt
	echo keep >"$f"
	refused "$opt $f exists; --force replaces it" $opt "$f" "${CMD[@]}"
	[ "$(cat "$f")" = keep ] || fail "$opt: the existing file was changed"
	rm -f "$tmp/started"
	if timeout 60 $T --force $opt "$f" "${CMD[@]}" >/dev/null 2>"$tmp/e" && [ -e "$tmp/started" ] &&
	   ! grep -qx keep "$f" && [ -s "$f" ]; then
		echo "ok: $opt with --force replaces it"
	else
		cat "$tmp/e"; fail "$opt --force: not replaced"
	fi
done
$D verify "$tmp/exists-o" >/dev/null || fail "-o --force: the new file does not verify"
/usr/bin/python3 -m json.tool "$tmp/exists--json" >/dev/null || fail "--json --force: not JSON"

echo "== never through a symbolic link, a directory or a device, even with --force"
echo keep >"$tmp/victim"; ln -s "$tmp/victim" "$tmp/link"; mkdir "$tmp/dir"
for opt in -o --json --perfetto; do
	refused "$opt $tmp/link is a symbolic link" --force $opt "$tmp/link" "${CMD[@]}"
	refused "$opt $tmp/dir is a directory" --force $opt "$tmp/dir" "${CMD[@]}"
	refused "$opt $tmp/nodir/x: directory $tmp/nodir does not exist" $opt "$tmp/nodir/x" "${CMD[@]}"
	refused "$opt /dev/null is not a regular file" $opt /dev/null "${CMD[@]}"
	refused "$opt /dev/null is not a regular file" --force $opt /dev/null "${CMD[@]}"
done
grep -q "File exists" "$tmp/e" && fail "/dev/null: 'File exists'"
[ "$(cat "$tmp/victim")" = keep ] && [ -L "$tmp/link" ] || fail "a symlinked output was written through"
[ -c /dev/null ] || fail "/dev/null is no longer a device"

echo "== an unwritable place (the tracer as nobody, with CAP_BPF and CAP_PERFMON)"
mkdir "$tmp/rootonly"; chmod 755 "$tmp/rootonly"
pre=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=+bpf,+perfmon --ambient-caps=+bpf,+perfmon)
if "${pre[@]}" true 2>/dev/null; then
	for opt in -o --json --perfetto; do
		refused "$opt $tmp/rootonly/x: cannot create: Permission denied" $opt "$tmp/rootonly/x" "${CMD[@]}"
	done
else
	echo "note: setpriv cannot give ambient capabilities here: the unwritable-place case is not run"
fi
pre=()

echo "== two outputs on one file"
mkdir "$tmp/d"; ln -s "$tmp/d" "$tmp/via"
refused "--perfetto $tmp/same and -o $tmp/same name the same file" -o "$tmp/same" --perfetto "$tmp/same" "${CMD[@]}"
cwd=$tmp
refused "--json $tmp/same and --perfetto ./same name the same file" --json "$tmp/same" --perfetto ./same "${CMD[@]}"
cwd=$PWD
refused "--json $tmp/via/x and -o $tmp/d/x name the same file" -o "$tmp/d/x" --json "$tmp/via/x" "${CMD[@]}"
refused "--json $tmp/via/x and -o $tmp/d/x name the same file" --force -o "$tmp/d/x" --json "$tmp/via/x" "${CMD[@]}"
compgen -G "$tmp/same*" >/dev/null && fail "a refused run left an output"
[ -e "$tmp/d/x" ] && fail "a refused run left $tmp/d/x"

echo "== a failure before the trace starts leaves no output file"
refused "--perfetto $tmp/link is a symbolic link" -o "$tmp/new.llmi" --json "$tmp/new.json" \
	--perfetto "$tmp/link" "${CMD[@]}"
sleep 1000 & sp=$!
refused "pid $sp maps no libcudart or libcuda" -o "$tmp/new.llmi" --json "$tmp/new.json" \
	--perfetto "$tmp/new.pf" -p $sp
kill $sp
compgen -G "$tmp/new.*" >/dev/null && { ls "$tmp"; fail "a failed start left an output file"; }

echo "== two tracers, one -o: the second is refused, even with --force"
rm -f "$tmp/go"
timeout 120 $T -o "$tmp/t.llmi" -- $W -q --tokens 16 --layers 2 --wait-file "$tmp/go" \
	--truth "$tmp/w.json" >"$tmp/first.out" 2>"$tmp/first.err" & tp=$!
for _ in $(seq 1200); do grep -q tracing "$tmp/first.err" 2>/dev/null && break; sleep 0.05; done
grep -q tracing "$tmp/first.err" || fail "the first tracer never started"
refused "-o $tmp/t.llmi is being written by another output or process" --force -o "$tmp/t.llmi" "${CMD[@]}"
touch "$tmp/go"
wait $tp; st=$?; tp=
[ $st = 0 ] || { cat "$tmp/first.out" "$tmp/first.err"; fail "the first tracer exit $st"; }
if $D verify "$tmp/t.llmi" >"$tmp/v" 2>&1 && $D info --json "$tmp/t.llmi" >"$tmp/info.json"; then
	/usr/bin/python3 - "$tmp/info.json" "$tmp/w.json" <<'PY' || fail "the first tracer's file"
import json, sys
i = json.load(open(sys.argv[1])); w = json.load(open(sys.argv[2]))
ok = i["events"]["count"] >= w["launches"] > 0
print(f"ok: the first tracer's file is whole: {i['events']['count']} events" if ok else f"info {i['events']}")
sys.exit(0 if ok else 1)
PY
else
	cat "$tmp/v"; fail "the first tracer's file does not verify"
fi
exit $rc
