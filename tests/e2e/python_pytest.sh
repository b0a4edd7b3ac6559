#!/usr/bin/env bash
# The Python tests (tests/python) under python3-pytest: a small GPT-2-layout
# torch model traced by llminstr-trace in two ranks' shards, read back
# through llminstr.open and ActivationDataset, exported to each format and
# read back (Arrow by Apache Arrow's JavaScript reader). See the files for
# what each test asserts.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
capture_setup build/lib/libllminstr_read.so
$PY -c "import pytest, torch, numpy" 2>/dev/null ||
	{ echo "SKIP: python3-pytest, python3-torch or python3-numpy missing (scripts/install-deps.sh)"; exit 77; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0	# python's own leaks are not ours
LD_PRELOAD="$PRE" timeout 900 $PY -m pytest -q -p no:cacheprovider --basetemp="$tmp/pytest" tests/python ||
	fail "pytest tests/python"
exit $rc
