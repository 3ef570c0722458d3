#!/usr/bin/env bash
# On the lent GPU machine (its python3 holds torch): the carried wheels, then the benchmark.
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 DO_NOT_TRACK=true
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
mkdir -p "$OUT/gpu"
python3 bench/bench_gpu.py --layout data/bench/beauty --device cuda --epochs 2 --full-train --out "$OUT/gpu/cuda-beauty.json"
python3 bench/bench_gpu.py --layout data/bench/beauty --device cuda --epochs 2 --precision fp32 --models sasrec h2rec --out "$OUT/gpu/cuda-beauty-fp32.json"
timeout 240 python3 bench/bench_gpu.py --layout data/bench/beauty --device cuda --epochs 2 --compile --out "$OUT/gpu/cuda-beauty-compile.json" || echo "compile run did not finish"
