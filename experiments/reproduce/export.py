"""A reproduction's Table 1 rows as a small committed summary: what a GPU machine measured
(`make gpu-check`), for `make reproduce` on any machine to report beside its own rows.

The runs themselves (checkpoints, samples) stay on the machine that trained them; the summary
holds every number a row needs, with the device, commit, command, seeds, steps and wall time, and
the best seed's Figure 2. Written by `python -m experiments.reproduce --budget=gpu
--export=results/gpu`.
"""

import os
import shutil

from experiments.reproduce import driver as driver_lib
from experiments.reproduce import plan as plan_lib
from experiments.reproduce import report as report_lib
from experiments.reproduce.sections import common, table1
from gan_jax.base import files

GPU_SUMMARY = os.path.join('results', 'gpu', 'table1.json')


def device_name(state: dict) -> str:
  """The accelerator a reproduction ran on: the GPUs its record names (driver.machine), else
  those nvidia-smi names now."""
  gpus = state.get('machine', {}).get('gpus') or driver_lib._gpus()
  if not gpus:
    return 'no GPU'
  names = sorted(set(gpus))
  return f'{len(gpus)} × {names[0]}' if len(names) == 1 and len(gpus) > 1 else ', '.join(names)


def summary(runs_dir: str, budget: plan_lib.Budget) -> dict:
  """Table 1's rows of the reproduction in `runs_dir`: for each kind of row (the paper recipe's
  G, its average, the fast recipe), the test numbers of each seed's chosen checkpoint."""
  page = report_lib.Report(runs_dir, budget, os.path.join(runs_dir, 'RESULTS.md'), runs_dir)
  state = page.state
  rows = []
  for label, part, eval_dir, prefix, key in table1.row_kinds():
    seeds = table1.tested_seeds(page, part, eval_dir, prefix)
    if not seeds:
      continue
    rows.append(
      {
        'label': label,
        'part': part,
        'steps': max(r.num_steps for r, _, _ in seeds),
        'seeds': [r.seed for r, _, _ in seeds],
        'chosen_steps': [rec['chosen_step'] for _, rec, _ in seeds],
        'validation_ll': [rec['validation_parzen_ll'] for _, rec, _ in seeds],
        'test_ll': [t['parzen']['ll'] for _, _, t in seeds],
        'test_se': [t['parzen']['se'] for _, _, t in seeds],
        'frechet_distance': [t['frechet_distance'] for _, _, t in seeds],
        'precision': [t['precision'] for _, _, t in seeds],
        'recall': [t['recall'] for _, _, t in seeds],
        'nn_samples': [common.nn(t, 'samples') for _, _, t in seeds],
        'nn_test': [common.nn(t, 'test') for _, _, t in seeds],
        'curves': {
          str(r.seed): [list(map(float, c)) for c in common.curve(page.workdir(r.name), key)]
          for r, _, _ in seeds
        },
      }
    )
  trains = {k: s for k, s in state['steps'].items() if k.startswith('train/table1')}
  return {
    'device': device_name(state),
    'budget': budget.name,
    'commit': next((s.get('commit') for s in trains.values()), driver_lib.git_commit()),
    'commands': [s.get('command') for s in trains.values()],
    'train_seconds': float(sum(s.get('wall_s', 0.0) for s in trains.values())),
    'machine': state.get('machine', {}),
    'rows': rows,
  }


def export(runs_dir: str, budget: plan_lib.Budget, out_dir: str) -> str:
  """Writes <out_dir>/table1.json and the best paper-recipe seed's Figure 2; returns the JSON's
  path."""
  data = summary(runs_dir, budget)
  if not data['rows']:
    raise ValueError(f'{runs_dir} has no tested Table 1 run to export')
  os.makedirs(out_dir, exist_ok=True)
  path = os.path.join(out_dir, 'table1.json')
  files.write_json(path, data)
  page = report_lib.Report(runs_dir, budget, os.path.join(runs_dir, 'RESULTS.md'), runs_dir)
  best = table1.paper_best(page)
  if best is not None:
    source = os.path.join(
      page.workdir(best[0].name), driver_lib.TEST_EVAL_DIR, 'figure2_nearest_neighbours.png'
    )
    if os.path.exists(source):
      files.atomic_write(
        os.path.join(out_dir, 'mnist_figure2.png'), lambda tmp: shutil.copyfile(source, tmp)
      )
  return path
