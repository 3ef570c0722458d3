"""A trial of the sweep and tune flows imports none of the data stages' heavy tools.

A lent GPU machine (experiments/gpu_run.sh) has torch, numpy, pandas and scipy but not DVC,
faiss, Great Expectations or the embedding engines, and only what experiments/gpu-wheels.txt
carries: training, evaluation and loading a fitted quantizer must not need them.
"""

import subprocess
import sys

ENTRY_POINTS = ["flows.sweep", "flows.tune", "h2rec.stages.train", "h2rec.stages.evaluate", "h2rec.sid.loading"]
NOT_NEEDED = ["dvc", "faiss", "great_expectations", "sentence_transformers", "openvino", "onnxruntime"]


def test_a_trial_imports_none_of_the_data_stages_tools():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in ENTRY_POINTS)
        + f"print(' '.join(m for m in {NOT_NEEDED!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
