"""The quick start: `make train`'s recipe on mnist_5k against full MNIST at equal steps."""

import os

from experiments.reproduce import driver as driver_lib
from experiments.reproduce import plan as plan_lib
from experiments.reproduce.sections import common
from gan_jax.runtime import rundir


def section(page) -> list[str]:
  """`make train`'s recipe on mnist_5k against the paper recipe on full MNIST, at equal steps
  (the same networks, so equal time), both scored on full MNIST's validation images."""
  steps = page.budget.quickstart_steps
  config = common.read_json(rundir.config_path(page.workdir('quickstart/mnist_5k'))) or {}
  small_data = config.get('dataset', 'mnist_5k')  # the run's own record
  small_sizes, full_sizes = page.data_sizes(small_data), page.data_sizes('mnist')
  small_n = f'{small_sizes["train"]:,} ' if small_sizes else ''
  full_n = f', {full_sizes["train"]:,}' if full_sizes else ''
  lines = [f'## The quick start: {small_n}bundled digits or full MNIST?', '']
  small = common.read_json(
    os.path.join(page.workdir('quickstart/mnist_5k'), driver_lib.VALIDATION_EVAL_DIR, 'eval.json')
  )
  full = common.eval_row(page.workdir('table1/seed_0'), steps)
  if not small or not full:
    page.missing.append('the quick-start comparison')
    return lines + ['Not run yet.', '']
  page.present.append('quickstart')
  lines += [
    f'`{plan_lib.QUICKSTART_FLAGS}` ({small_data}, {small_n}training images) and '
    f'`{plan_lib.MNIST_FLAGS}` (full MNIST{full_n}), seed 0, both at step {steps:,} '
    '(the same networks and batch, so the same time), both scored against full '
    "MNIST's validation images with its classifier.",
    '',
    '| metric | mnist_5k | full MNIST |',
    '|---|---|---|',
  ]
  for key, label, _ in common.METRICS:
    lines.append(
      f'| {label} | {common.fmt(common.metric(small, key))} | {common.fmt(full.get(key))} |'
    )
  return lines + ['']
