#!/usr/bin/env bash
# The sha256 of what a lone run and a population produce, for changes that must not change
# results: run it before and after, on the same machine, and compare the two lists.
#   benchmarks/fingerprint.sh [OUT_DIR]   (about 1 min on 2 CPU cores)
# A lone run (300 steps of make train's recipe with an average of G) and a population of two
# seeds (200 steps) train on the bundled digits; each writes 64 samples (.npy, float32) from its
# average and from G itself, and the checksums of those files are printed.
set -euo pipefail
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
PY=${PY:-.venv/bin/python}
FLAGS=(--flagfile=experiments/configs/mnist_5k.flags --g_ema_decay=0.99 --log_every=100
  --checkpoint_every=100 --sample_every=0 --eval_every=0)
export XLA_FLAGS=--xla_force_host_platform_device_count=2
$PY -m experiments.train "${FLAGS[@]}" --num_steps=300 --workdir="$OUT/lone" --overwrite >"$OUT/log" 2>&1
printf 'def sweep():\n  return [{"seed": 0}, {"seed": 1}]\n' >"$OUT/seeds.py"
$PY -m experiments.sweep "${FLAGS[@]}" --num_steps=200 --sweep="$OUT/seeds.py" \
  --workdir="$OUT/population" >>"$OUT/log" 2>&1
for run in "$OUT"/lone "$OUT"/population/*/; do
  [ -d "$run/checkpoints" ] || continue
  name=$(basename "$run")
  $PY -m experiments.sample --workdir="$run" --num=64 --out="$OUT/$name.npy" >>"$OUT/log" 2>&1
  $PY -m experiments.sample --workdir="$run" --num=64 --raw_generator \
    --out="$OUT/$name-raw.npy" >>"$OUT/log" 2>&1
done
cd "$OUT" && sha256sum -- *.npy
