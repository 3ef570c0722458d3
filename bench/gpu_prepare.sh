#!/usr/bin/env bash
# Prepare, on this machine, everything bench/bench_gpu.py needs on a lent GPU machine, whose
# image has torch, pandas, pyarrow, scipy, safetensors, pyyaml and tqdm but not pydantic, and
# reaches no registry. Then one device call runs it (docs/benchmarks.md, "GPU"):
#   carry: .whl, data/bench/beauty/data/prepared, data/bench/beauty/data/sid
#   command: bash bench/gpu_run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python bench/workspace.py beauty                    # the pipeline's stages into data/bench/beauty/
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
for req in pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5; do
  python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$req"
done
du -sh .whl data/bench/beauty/data/prepared data/bench/beauty/data/sid
