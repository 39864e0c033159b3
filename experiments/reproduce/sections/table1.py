"""Table 1: MNIST's Parzen log-likelihood per recipe, each seed's row, the gates verdict and
the time to the paper's number."""

import math
import os

import numpy as np

from experiments.reproduce import driver as driver_lib
from experiments.reproduce import plan as plan_lib
from experiments.reproduce.sections import accelerator, common
from gan_jax.runtime import rundir


def row_kinds() -> list[tuple[str, str, str, str, str]]:
  """Table 1's rows of this reproduction: (label, part, test evaluation dir, driver step prefix,
  validation curve key). The paper recipe's runs keep an average of G beside their own G, so
  they give two rows (plan.TABLE1_AVERAGE)."""
  return [
    (
      "Adversarial nets, the paper's recipe",
      'table1',
      driver_lib.TEST_EVAL_DIR,
      'test',
      'eval_raw/parzen_ll',
    ),
    (
      "the paper's recipe, G averaged (decay 0.9999, warm-up)",
      'table1',
      driver_lib.AVERAGE_TEST_EVAL_DIR,
      'test_average',
      'eval/parzen_ll',
    ),
    (
      f'the fast recipe (`{plan_lib.FAST_FLAGS}`)',
      'table1_fast',
      driver_lib.TEST_EVAL_DIR,
      'test',
      'eval/parzen_ll',
    ),
  ]


def tested_seeds(page, part: str, eval_dir: str, prefix: str) -> list[tuple]:
  """(run, the driver's record of its test step, its test eval.json) of each tested seed."""
  out = []
  for run in page.runs(part):
    test = common.read_json(os.path.join(page.workdir(run.name), eval_dir, 'eval.json'))
    record = page.step(f'{prefix}/{run.name}')
    if test and record:
      out.append((run, record, test))
  return out


def paper_best(page):
  """The paper recipe's seed chosen on validation: (run, record, test) or None. The fast
  recipe's gates hold it to this checkpoint's test numbers."""
  seeds = tested_seeds(page, 'table1', driver_lib.TEST_EVAL_DIR, 'test')
  return max(seeds, key=lambda s: s[1]['validation_parzen_ll'], default=None)


def section(page) -> list[str]:
  """Table 1 with each seed's row, the gates verdict, the time to the paper's number and the
  validation curves."""
  lines = ['## Table 1: MNIST, Parzen window log-likelihood of the test set', '']
  kinds = [(k, tested_seeds(page, k[1], k[2], k[3])) for k in row_kinds()]
  summary = accelerator.gpu_summary(page)
  accelerator_rows = accelerator.rows(page, summary)
  if summary:
    page.present.append('gpu')
  if not any(seeds for _, seeds in kinds):
    page.missing.append('Table 1 (training or its test evaluations)')
    if not summary:
      return lines + ['Not run yet.', '']
  for (label, part, _, _, _), seeds in kinds:
    if len(seeds) < len(page.runs(part)):
      page.missing.append(f'Table 1: {label} ({len(seeds)} of {len(page.runs(part))} seeds)')
  tested = [t for _, seeds in kinds for _, _, t in seeds]
  records = [r for _, seeds in kinds for _, r, _ in seeds]
  protocol = parzen_protocol(tested[0]) if tested else 'as below'
  for (_, _, _, prefix, _), seeds in kinds:
    page.present += [f'{prefix}/{run.name}' for run, _, _ in seeds]
  sizes = page.data_sizes('mnist')
  cut = f', train[0:{sizes["train"]}]' if sizes else ''
  seeds_note = (
    f'with samples of seed {records[0]["test_seed"]} where the validation evaluations that '
    f'chose it drew seed {records[0]["validation_seed"]}'
    if records and 'test_seed' in records[0]
    else 'with the evaluation seed its driver recorded'
  )
  lines += [
    f"Each row is a recipe on the paper's networks and data (full MNIST{cut}), "
    "trained here with several seeds. Each seed's checkpoint was chosen among those every "
    f'{page.budget.eval_every:,} steps by its validation Parzen log-likelihood (the fast '
    'recipe only among checkpoints whose samples sit no closer to their nearest training '
    'images than held-out images do: `'
    + driver_lib.FAST_SELECTION_GATES
    + '`); only that checkpoint was scored on '
    f"the test set, once, by the paper's protocol ({protocol}), {seeds_note}. Beside each "
    'Parzen number: '
    "the Fréchet distance and precision / recall in the evaluation classifier's features, "
    'and the median distance of samples to their nearest training image next to the test '
    "images' own (samples much closer than test images are copies or blurred prototypes). "
    'Means ± sd over seeds.',
    '',
    '| model | steps | training time per seed | MNIST LL (nats) | FD | precision / recall '
    '| nearest training image, median L2 (samples / test) |',
    '|---|---|---|---|---|---|---|',
    *(f'| {name} (paper) | | | {ll} ± {se} | | | |' for name, ll, se in plan_lib.PAPER_TABLE1),
  ]
  real = None
  for (label, part, _, _, _), seeds in kinds:
    if not seeds:
      lines.append(f'| {label} | not run yet | | | | | |')
      continue
    real = seeds[0][2]['real_data']
    lines.append(
      f'| **{label}** ({len(seeds)} seeds) | {common.steps_of(page.runs(part))} | '
      f'{common.duration(np.median([train_seconds(page, r) for r, _, _ in seeds]))} | '
      f'**{common.mean_sd([t["parzen"]["ll"] for _, _, t in seeds])}** | '
      f'{common.mean_sd([t["frechet_distance"] for _, _, t in seeds])} | '
      f'{common.mean_sd([t["precision"] for _, _, t in seeds])} / '
      f'{common.mean_sd([t["recall"] for _, _, t in seeds])} | '
      f'{common.mean_sd([common.nn(t, "samples") for _, _, t in seeds])} / '
      f'{common.mean_sd([common.nn(t, "test") for _, _, t in seeds])} |'
    )
  lines += accelerator_rows
  if real:
    lines.append(
      f'| real data: {real["source"]}, same code | | | {real["parzen"]["ll"]:.1f} ± '
      f'{real["parzen"]["se"]:.1f} | {common.fmt(real["frechet_distance"])} | '
      f'{common.fmt(real["precision"])} / {common.fmt(real["recall"])} | |'
    )
  lines += [
    *(
      f'| {name} (published, same protocol) | | | {ll}{f" ± {se}" if se else ""} | | | |'
      for name, ll, se in plan_lib.BEYOND_PAPER
    ),
    '',
    'Each seed (± is the standard error over the '
    + (
      f'{tested[0]["parzen"]["num_test"]:,} '
      if tested and 'num_test' in tested[0]['parzen']
      else ''
    )
    + 'test images):',
    '',
    '| recipe | seed | chosen step | validation LL | test LL | σ | FD | precision / recall '
    '| NN median (samples / test) | training time |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (label, _, _, _, _), seeds in kinds:
    for run, record, test in seeds:
      p = test['parzen']
      lines.append(
        f'| {label} | {run.seed} | {record["chosen_step"]:,} | '
        f'{common.fmt(record["validation_parzen_ll"])} | {p["ll"]:.1f} ± {p["se"]:.1f} | '
        f'{p["sigma"]:.3f} | {common.fmt(test["frechet_distance"])} | '
        f'{common.fmt(test["precision"])} / {common.fmt(test["recall"])} | '
        f'{common.fmt(common.nn(test, "samples"))} / {common.fmt(common.nn(test, "test"))} | '
        f'{common.duration(train_seconds(page, run))} |'
      )
  lines += [
    '',
    "Training time: the loop's own time from its logged rates, evaluations during "
    'training and resumes included, start-up excluded (for seeds trained as one '
    "population, the population's time); each step's wall time is in the last section.",
    '',
  ]
  lines += gates_verdict(page, dict((k[1] + k[3], s) for k, s in kinds))
  lines += time_to_target(page, kinds)
  series = {}
  for label, part, _, _, key in row_kinds():
    for run in page.runs(part):
      series[f'{label.split(" (")[0]}, seed {run.seed}'] = (page.workdir(run.name), key)
  fig = page.plot_curves(
    'mnist_curves.png',
    series,
    title='MNIST, Table 1 recipes: validation curves',
    hline=(plan_lib.PAPER_GAN_LL, 'paper (225, test)'),
  )
  if fig:
    lines += [f'![MNIST learning curves]({fig})', '']
  return lines


def gates_verdict(page, kinds: dict) -> list[str]:
  """Whether the fast recipe passes the gates that keep Parzen honest, on test numbers."""
  fast, best = kinds.get('table1_fasttest'), paper_best(page)
  if not fast or not best:
    return []
  _, record, paper = best
  gates = (
    ('test Parzen LL, mean over seeds', 'parzen', plan_lib.PAPER_GAN_LL, True),
    ('FD', 'frechet_distance', paper['frechet_distance'], False),
    ('precision', 'precision', paper['precision'], True),
    ('recall', 'recall', paper['recall'], True),
  )
  lines = [
    '### Does the fast recipe pass the gates?',
    '',
    "Its seeds' test numbers (mean) against the paper's 225 and against the paper recipe's "
    f'checkpoint chosen on validation (seed {best[0].seed}, step {record["chosen_step"]:,}); '
    "memorisation against the test images' own median distance to the training set.",
    '',
    '| gate | fast recipe | bound | verdict |',
    '|---|---|---|---|',
  ]
  for label, key, bound, higher in gates:
    value = float(np.mean([t['parzen']['ll'] if key == 'parzen' else t[key] for _, _, t in fast]))
    lines.append(gate_row(label, value, bound, higher))
  samples = float(np.mean([common.nn(t, 'samples') for _, _, t in fast]))
  test = float(np.mean([common.nn(t, 'test') for _, _, t in fast]))
  lines.append(gate_row('nearest training image, median L2', samples, test, True))
  return lines + ['']


def train_seconds(page, run) -> float:
  return float(common.loop_seconds(page.workdir(run.name))[1][-1])


def time_to_target(page, kinds) -> list[str]:
  """Steps and training time at which each recipe's validation curve first reached the
  paper's number; for one that did not, an extrapolation, said to be one."""
  target = plan_lib.PAPER_GAN_LL
  lines = [f"### Time to the paper's number ({target} nats on validation)", '']
  for (label, part, _, _, key), _ in kinds:
    runs = page.runs(part)
    reached, points = [], []
    for run in runs:
      wd = page.workdir(run.name)
      steps, values = common.curve(wd, key)
      if not len(steps):
        continue
      points += list(zip(steps, values))
      hit = np.flatnonzero(values >= target)
      if hit.size:
        loop_steps, seconds = common.loop_seconds(wd)
        at = int(steps[hit[0]])
        reached.append(
          f'seed {run.seed}: step {at:,}, '
          f'{common.duration(float(np.interp(at, loop_steps, seconds)))} of training'
        )
    if not points:
      continue
    if reached:
      lines.append(
        f'- **{label}**: first reached it at '
        + '; '.join(reached)
        + (f' ({len(runs) - len(reached)} seed(s) did not)' if len(reached) < len(runs) else '')
        + '.'
      )
      continue
    best = max(points, key=lambda p: p[1])
    text = (
      f'- **{label}**: not reached within {common.steps_of(runs)} steps: the best validation value '
      f'was {best[1]:.1f} (step {best[0]:,}).'
    )
    horizon = max(s for s, _ in points)
    late = [(s, v) for s, v in points if s >= horizon / 3]
    if len(late) >= 3:
      x = np.log([s for s, _ in late])
      slope, intercept = np.polyfit(x, [v for _, v in late], 1)
      if slope > 0:
        need = math.exp((target - intercept) / slope)
        rate = _steps_per_second(page, runs)
        text += (
          f' A straight line through the validation values against log(step) from step '
          f'{int(horizon / 3):,} on (slope {slope:.1f} nats per e-fold of steps; an '
          f'extrapolation, not a measurement) reaches {target} near step {need:,.0f}'
          + (f', about {common.duration(need / rate)} at {rate:.1f} steps/s' if rate else '')
          + '.'
        )
    lines.append(text)
  gpu_steps = plan_lib.BUDGETS['gpu'].mnist_steps
  return lines + [
    '',
    _momentum_ramp(page, page.runs('table1'))
    + f'`make gpu-check` runs it for {gpu_steps:,} steps per seed on a GPU.',
    '',
  ]


def _momentum_ramp(page, runs) -> str:
  """The length of the paper recipe's momentum ramp, from a run's config and the recorded
  train size; '' when either is missing."""
  config = (common.read_json(rundir.config_path(page.workdir(runs[0].name))) or {}) if runs else {}
  sizes = page.data_sizes(config.get('dataset', ''))
  if not sizes or 'momentum_saturate_epoch' not in config or not config.get('batch_size'):
    return ''
  epochs = config['momentum_saturate_epoch']
  steps = epochs * (sizes['train'] // config['batch_size'])
  return f'The momentum ramp of the paper recipe alone spans {steps:,} steps ({epochs} epochs); '


def _steps_per_second(page, runs) -> float | None:
  rates = []
  for run in runs:
    loop_steps, seconds = common.loop_seconds(page.workdir(run.name))
    if len(loop_steps) > 1 and seconds[-1] > 0:
      rates.append(loop_steps[-1] / seconds[-1])
  return float(np.median(rates)) if rates else None


def parzen_protocol(test: dict) -> str:
  """The Parzen protocol's sizes, as an eval.json records them."""
  p = test['parzen']
  sizes = {k: p.get(k) for k in ('num_centres', 'num_validation', 'num_test')}
  if None in sizes.values():
    return 'a Gaussian Parzen window on the samples, σ chosen on validation images'
  return (
    f'{sizes["num_centres"]:,} samples, σ among {len(p["sigmas"])} log-spaced values from '
    f'{min(p["sigmas"]):.3g} to {max(p["sigmas"]):.3g} chosen on '
    f'{sizes["num_validation"]:,} validation images, {sizes["num_test"]:,} test images'
  )


def gate_row(label: str, value: float, bound: float, higher: bool) -> str:
  holds = value >= bound if higher else value <= bound
  word = ('at or above' if higher else 'at or below') if holds else ('below' if higher else 'above')
  margin = '' if holds else f' by {abs(value - bound):.3g}'
  verdict = 'passes' if holds else 'fails'
  return f'| {label} | {common.fmt(value)} | {common.fmt(bound)} | {verdict}: {word}{margin} |'
