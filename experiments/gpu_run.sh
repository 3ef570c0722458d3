#!/usr/bin/env bash
# On a lent GPU machine, after experiments/gpu_prepare.sh here (its header says what to carry):
# Beauty's tuning and seed programme through the project's own flows (Prefect on a local Dask cluster per chain, several trials on
# the one GPU side by side), each chain into its own MLflow store under mlruns/, all of it packed
# into $OUT/gpu-runs.tgz. Back here, `h2rec report` reads each store in turn (docs/results.md).
#
# One chain, stopped at the budget (what finished stays FINISHED in MLflow; the report reads
# only finished runs):
#   esr       a Beauty study of LLM-ESR (experiments/beauty.yaml), then 5 seeds at its best trial
#             (as llm_esr_tuned, from experiments/tuned/beauty/llm_esr_tuned_gpu.yaml so that the
#             CPU study's committed llm_esr_tuned.yaml is not replaced when the archive is
#             unpacked). The CPU study is complete; the GPU's study is a whole one of its own
#             (its runs count as llm_esr_gpu and llm_esr_tuned_gpu).
# The three variants of each backbone (experiments/backbones.yaml), H2Rec on GRU4Rec at its own
# study's configuration (gru4rec_h2rec_tuned) and the whole fidelity grid have their 5 Beauty
# seeds on the CPU already; so have SASRec-128, whose Beauty study (CPU) chose the configuration
# those seeds ran at, and LLMInit-SASRec at its own Beauty study's configuration (CPU,
# experiments/tuned/beauty/llminit_sasrec_tuned.yaml), and the naive SID+HID sum at its own
# Beauty study's configuration (CPU, experiments/tuned/beauty/naive_sum_tuned.yaml).
# (The programmes of earlier lent sessions, SASRec's and H2Rec's Beauty studies and seeds, then
# the fidelity grid, are in this file's history and in docs/results.md.)
# Every run trains in fp32 (TF32 matmuls), not the bf16 autocast the GPU would use by default,
# so that its seeds sit beside the CPU's fp32 ones.
set -uo pipefail
BUDGET=${BUDGET:-540}        # seconds for the programme, set-up included; every flow is stopped by then
TRIALS=${TRIALS:-8}          # trials per study: the budget every model's study has had
TUNE_WORKERS=${TUNE_WORKERS:-4}
REQUIRE_CUDA=${REQUIRE_CUDA:-1}  # 0 to try the script on a CPU
start=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - start))); }
out=${OUT:-/tmp/out}
mkdir -p "$out" logs

if [ -f .gpu/site.tar.xz ]; then  # absent when the script is tried on a machine that has the project's venv
  mkdir -p /tmp/site && tar xJf .gpu/site.tar.xz -C /tmp/site || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DO_NOT_TRACK=true \
  MLFLOW_DISABLE_TELEMETRY=true PREFECT_SERVER_ANALYTICS_ENABLED=false \
  PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120 PREFECT_LOGGING_LEVEL=WARNING
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
mkdir -p data && cp -r data/bench/beauty/data/. data/
# dvc.lock records the default dataset's data, not the carried Beauty: without it a run's
# data_version tag says "unknown" rather than something wrong.
rm -f dvc.lock

# One params file per chain: fp32, and each chain's Optuna study in its own database.
REQUIRE_CUDA=$REQUIRE_CUDA python3 - <<'EOF' || exit 1
import os
import yaml
params = yaml.safe_load(open("params.yaml"))
params["train"]["precision"] = "fp32"
for chain in ("esr",):
    params["tune"]["storage"] = f"sqlite:///mlruns/optuna-{chain}.db"
    yaml.safe_dump(params, open(f"params-{chain}.yaml", "w"), sort_keys=False)
import flows.sweep, flows.tune, torch  # noqa: E401,F401  (every import the chains need, before they start)
if os.environ["REQUIRE_CUDA"] == "1":
    assert torch.cuda.is_available(), "no CUDA device"
print("torch", torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
EOF

chain() {  # name, then the commands of the chain, each run under what is left of the budget
  local name=$1; shift
  export MLFLOW_TRACKING_URI=sqlite:///mlruns/gpu-$name.db PREFECT_HOME=/tmp/prefect-$name
  for cmd in "$@"; do
    echo "[$name $(($(date +%s) - start))s] $cmd"
    timeout --kill-after=10 "$(left)" bash -c "$cmd" || { echo "[$name] stopped: $cmd"; return; }
  done
  echo "[$name $(($(date +%s) - start))s] done"
}
tune() { echo "python3 -m flows.tune --grid experiments/beauty.yaml --variants $1 --trials $TRIALS --workers $TUNE_WORKERS --params params-$2.yaml"; }
seeds() { echo "python3 -m flows.sweep --grid experiments/tuned/beauty/$1.yaml --seeds 0 1 2 3 4 --workers 5 --params params-$2.yaml"; }
# The seeds run as llm_esr_tuned, beside the llm_esr seeds at Scientific's configuration.
to_tuned="sed 's/^llm_esr:/llm_esr_tuned:/' experiments/tuned/beauty/llm_esr.yaml > experiments/tuned/beauty/llm_esr_tuned_gpu.yaml"
chain esr "$(tune llm_esr esr)" "$to_tuned" "$(seeds llm_esr_tuned_gpu esr)" >logs/esr.log 2>&1 &
wait

# What finished, per store; then everything the report needs, in one file.
python3 - <<'EOF'
import glob, sqlite3
for db in sorted(glob.glob("mlruns/gpu-*.db")):
    con = sqlite3.connect(db)
    rows = con.execute(
        "select t.value, r.status, count(*) from runs r join tags t on t.run_uuid = r.run_uuid "
        "where t.key = 'variant' group by t.value, r.status"
    ).fetchall()
    print(db, rows)
EOF
grep -h "^\[" logs/*.log
tar czf "$out/gpu-runs.tgz" mlruns/gpu-*.db* mlruns/optuna-*.db* logs $(ls experiments/tuned/beauty/*.yaml 2>/dev/null)
ls -la "$out"
echo "programme took $(($(date +%s) - start)) s"
