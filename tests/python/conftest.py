# SPDX-License-Identifier: MIT
"""Fixtures of the Python tests (tests/python, run by tests/e2e/python_pytest.sh
under make test): a run of two captures, as two ranks would write it, of a
small randomly initialised GPT-2-layout model (tests/e2e/progs/hf_layouts.py:
no downloads), hooked by TransformerLens-style names and by a module path,
traced by the real llminstr-trace. Each shard's references: what the hooked
modules saw (REF/NAME.STEP.f32) and the input ids (REF/tokens.STEP.i64)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "user", "python"))

TRACER = os.path.join(ROOT, "build", "bin", "llminstr-trace")
DUMP = os.path.join(ROOT, "build", "bin", "llminstr-dump")
LAYOUTS = os.path.join(ROOT, "tests", "e2e", "progs", "hf_layouts.py")
# what the model is hooked by: TransformerLens names and one module path
PATTERNS = ["blocks.*.hook_resid_post", "blocks.0.mlp.hook_post", "transformer.h.1.mlp"]
NAMES = ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post", "blocks.0.mlp.hook_post",
         "transformer.h.1.mlp"]
FORWARDS = 3
TOKENS = 24             # hf_layouts: input ids [2, 12] a forward


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the tracer attaches BPF uprobes: needs root")
    for f in (TRACER, DUMP):
        if not os.path.exists(f):
            pytest.skip(f + " not built")
    d = tmp_path_factory.mktemp("run")
    for rank in (0, 1):
        ref = d / ("ref-%d" % rank)
        ref.mkdir()
        env = dict(os.environ, HF_LAYOUTS_IDS_SEED=str(10 + rank), RANK=str(rank), WORLD_SIZE="2")
        p = subprocess.run([TRACER, "--capture", "all", "-o", str(d / ("rank-%d.llmi" % rank)),
                            "--", sys.executable, LAYOUTS, "run", "gpt2", str(FORWARDS), str(ref)]
                           + PATTERNS, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=300, text=True)
        assert p.returncode == 0, p.stdout
        assert "hf_layouts: %d taken" % (len(NAMES) * FORWARDS) in p.stdout, p.stdout
    return d
