r"""A sweep of seeds as ONE vmapped population vs the same runs one after the other.

  python -m benchmarks.sweep_bench                        # 8 seeds x 500 steps, ~5 min on 2 cores
  python -m benchmarks.sweep_bench --members=4 --steps=200 --out=sweep_bench.json

The paper's MNIST model (experiments/configs/mnist_paper.flags) on the bundled mnist_5k digits.
Each way runs in fresh processes, as a user would run it: one `experiments.sweep`-like process
for the population, one process per seed for the separate runs. For each: wall time (process
start to exit), the time inside training, and the XLA compile time within it (JAX's
/jax/core/compile/* duration events). Prints a table and writes JSON.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_integer('members', 8, 'Seeds in the sweep.', lower_bound=1)
flags.DEFINE_integer('steps', 500, 'Training steps of each seed.', lower_bound=1)
flags.DEFINE_string('out', 'sweep_bench.json', 'Where to write the results (JSON).')
# A way that runs in its own process, as a user would run it.
flags.DEFINE_enum('child', None, ['population', 'single'], 'Internal: run one way.')
flags.DEFINE_integer('seed', 0, 'Internal: the seed of a --child=single run.')
flags.DEFINE_string('workdir', None, 'Internal: where a child trains.')
FLAGS = flags.FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGFILE = os.path.join(ROOT, 'experiments', 'configs', 'mnist_paper.flags')
# Compile events: lowering to MLIR and XLA's compile (the persistent cache is off by default).
COMPILE_EVENTS = (
  '/jax/core/compile/jaxpr_to_mlir_module_duration',
  '/jax/core/compile/backend_compile_duration',
)


def config_args(steps: int) -> list[str]:
  return [
    f'--flagfile={FLAGFILE}',
    '--dataset=mnist_5k',
    f'--num_steps={steps}',
    f'--log_every={steps}',
    f'--checkpoint_every={steps}',
    '--sample_every=0',
  ]


def child(args) -> None:
  """One process: the population of all seeds, or one seed alone. Prints one JSON line."""
  import jax

  compile_s = [0.0]

  def listen(event, duration, **kwargs):
    del kwargs
    if event in COMPILE_EVENTS:
      compile_s[0] += duration

  jax.monitoring.register_event_duration_secs_listener(listen)
  from experiments.config_flags import config_from_args
  from gan_jax.loop import lone, population

  base = config_from_args(config_args(args.steps))
  start = time.perf_counter()
  if args.child == 'population':
    configs = [base.replace(seed=s) for s in range(args.members)]
    population.train_population(
      configs, [os.path.join(args.workdir, f'seed_{s}') for s in range(args.members)]
    )
  else:
    lone.train_and_evaluate(
      base.replace(seed=args.seed), os.path.join(args.workdir, f'seed_{args.seed}')
    )
  print(
    json.dumps(
      {
        'train_s': time.perf_counter() - start,
        'compile_s': compile_s[0],
        'devices': jax.device_count(),
        'platform': jax.devices()[0].platform,
      }
    ),
    flush=True,
  )


def _run_child(*extra: str) -> dict:
  start = time.perf_counter()
  result = subprocess.run(
    [sys.executable, '-m', 'benchmarks.sweep_bench', *extra],
    cwd=ROOT,
    capture_output=True,
    text=True,
  )
  wall = time.perf_counter() - start
  if result.returncode:
    raise SystemExit(f'benchmark process failed:\n{result.stderr[-3000:]}')
  row = json.loads(result.stdout.strip().splitlines()[-1])
  return {**row, 'wall_s': wall}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  args = FLAGS
  if args.child:
    child(args)
    return

  common = [f'--members={args.members}', f'--steps={args.steps}']
  with tempfile.TemporaryDirectory(prefix='sweep_bench_') as tmp:
    # Prepare the data set once, outside the timings.
    subprocess.run(
      [sys.executable, '-c', 'from gan_jax import data; data.load_split("mnist_5k", "train")'],
      cwd=ROOT,
      check=True,
      capture_output=True,
    )
    pop = _run_child('--child=population', *common, f'--workdir={tmp}/population')
    runs = [
      _run_child('--child=single', *common, f'--seed={s}', f'--workdir={tmp}/separate')
      for s in range(args.members)
    ]
  separate = {k: sum(r[k] for r in runs) for k in ('wall_s', 'train_s', 'compile_s')}
  member_steps = args.members * args.steps
  rows = [
    (f'population of {args.members} (one process)', pop),
    (f'{args.members} separate runs (sum)', separate),
  ]
  print(
    f"{args.members} seeds x {args.steps} steps of the paper's MNIST model on mnist_5k, "
    f'{pop["devices"]} {pop["platform"]} device(s), {os.cpu_count()} CPU cores'
  )
  print(f'| {"way":34} | wall s | train s | compile s | member-steps/s (train) |')
  print(f'|{"-" * 36}|--------|---------|-----------|------------------------|')
  for name, r in rows:
    print(
      f'| {name:34} | {r["wall_s"]:6.1f} | {r["train_s"]:7.1f} | {r["compile_s"]:9.1f} | '
      f'{member_steps / r["train_s"]:22.1f} |'
    )
  print(
    f'speed-up of the population: {separate["wall_s"] / pop["wall_s"]:.2f}x wall, '
    f'{separate["compile_s"] / max(pop["compile_s"], 1e-9):.1f}x less compile time'
  )
  result = {
    'members': args.members,
    'steps': args.steps,
    'devices': pop['devices'],
    'platform': pop['platform'],
    'cpu_count': os.cpu_count(),
    'population': pop,
    'separate_runs': runs,
    'separate_total': separate,
    'speedup_wall': separate['wall_s'] / pop['wall_s'],
  }
  with open(args.out, 'w') as f:
    json.dump(result, f, indent=2)
  print(f'wrote {args.out}')


if __name__ == '__main__':
  app.run(main)
