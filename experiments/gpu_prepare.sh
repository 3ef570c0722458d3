#!/usr/bin/env bash
# Here, before a lent GPU runs experiments/gpu_run.sh: Beauty's inputs through the pipeline's own
# stages (bench/workspace.py -> data/bench/beauty/), and the packages the flows need beyond the
# device image (Python 3.12 with torch, numpy, pandas, pyarrow, scipy, scikit-learn and
# matplotlib; no registry), listed with their versions in experiments/gpu-wheels.txt.
#
# A device call carries at most 64 MiB, the tracked files included (about 14 MB), and Beauty's
# inputs take 27 MB, so the 44 MB of wheels travel installed instead: unpacked for Python 3.12,
# shared libraries stripped of their symbol tables, Prefect's web UI (unused: the flows talk to
# the API) and Cython sources left out, in one xz archive of about 20 MB, .gpu/site.tar.xz.
# Then one device call (docs/results.md, "Runs on a lent GPU"):
#   carry:   .gpu data/bench/beauty/data/prepared data/bench/beauty/data/sid
#            data/bench/beauty/data/features data/bench/beauty/data/cooccurrence
#   command: bash experiments/gpu_run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python bench/workspace.py beauty >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
  -d "$work/wheels" -r experiments/gpu-wheels.txt
python -m pip install -q --no-deps --no-compile --no-index --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" --target "$work/site" "$work"/wheels/*.whl
find "$work/site" -name '*.so' -exec strip --strip-unneeded {} +
rm -rf "$work/site/prefect/server/ui" "$work/site/prefect/server/ui-v2" "$work/site/bin"
find "$work/site" \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.c' -o -name '*.cpp' -o -name '*.h' \) -delete
mkdir -p .gpu
tar cJf .gpu/site.tar.xz -C "$work/site" .
du -sh .gpu/site.tar.xz data/bench/beauty/data/{prepared,sid,features,cooccurrence}
