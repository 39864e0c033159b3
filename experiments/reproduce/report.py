"""RESULTS.md and its figures, generated from a reproduction's outputs and nothing else.

Reads <runs_dir>/reproduce.json (commands, commits, wall times, machine), each run's
metrics.jsonl (validation curves), test_eval/eval.json (the test numbers of the checkpoint chosen
on validation) and the sweep's and 1-D experiment's files. Parts that have not run yet are
listed as missing, so a partial reproduction still gives an honest page.
"""

import json
import math
import os
import shutil

import numpy as np

from experiments.reproduce import driver as driver_lib
from experiments.reproduce import plan as plan_lib
from gan_jax import writers

METRICS = (  # (key in eval rows / eval.json, label, higher is better)
    ('parzen_ll', 'Parzen LL (nats)', True),
    ('frechet_distance', 'FD', False),
    ('kid', 'KID', False),
    ('classifier_score', 'classifier score', True),
    ('precision', 'precision', True),
    ('recall', 'recall', True),
    ('coverage', 'coverage', True),
    ('class_kl', 'class KL', False),
)


def _read_json(path: str):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def curve(workdir: str, key: str = 'eval/parzen_ll') -> tuple[np.ndarray, np.ndarray]:
  """(steps, values) of an evaluated metric along a run."""
  rows = [r for r in writers.read_metrics(workdir) if key in r]
  return (np.array([r['step'] for r in rows], np.int64),
          np.array([r[key] for r in rows], np.float64))


def loop_seconds(workdir: str) -> tuple[np.ndarray, np.ndarray]:
  """(steps, seconds of the training loop to reach them), from the logged steps/s (evaluations
  during training included; start-up excluded)."""
  rows = [r for r in writers.read_metrics(workdir) if 'steps_per_s' in r]
  steps, seconds, last, total = [0], [0.0], 0, 0.0
  for r in rows:
    if r['step'] > last and r['steps_per_s'] > 0:
      total += (r['step'] - last) / r['steps_per_s']
      last = r['step']
      steps.append(last)
      seconds.append(total)
  return np.array(steps), np.array(seconds)


def eval_row(workdir: str, step: int) -> dict | None:
  """Every logged evaluation metric at `step`, or None."""
  for r in writers.read_metrics(workdir):
    if r['step'] == step and 'eval/parzen_ll' in r:
      return {k.split('/', 1)[1]: v for k, v in r.items()
              if k.startswith('eval/') and not k.startswith('eval/real_data/')}
  return None


def _mean_sd(values) -> str:
  values = [v for v in values if v is not None and math.isfinite(v)]
  if not values:
    return 'n/a'
  if len(values) == 1:
    return _fmt(values[0])
  return f'{_fmt(np.mean(values))} ± {_fmt(np.std(values, ddof=1))}'


def _fmt(value) -> str:
  if value is None:
    return 'n/a'
  value = float(value)
  if abs(value) >= 100:
    return f'{value:.1f}'
  if abs(value) >= 1:
    return f'{value:.2f}'
  return f'{value:.3g}'


def _duration(seconds: float) -> str:
  seconds = int(round(seconds))
  return f'{seconds // 3600}h{seconds // 60 % 60:02d}m' if seconds >= 3600 else (
      f'{seconds // 60}m{seconds % 60:02d}s')


class Report:
  """Collects a reproduction's outputs and writes RESULTS.md and results/*.png."""

  def __init__(self, runs_dir: str, budget: plan_lib.Budget, results_md: str, figures_dir: str):
    self.runs_dir, self.budget = runs_dir, budget
    self.results_md, self.figures_dir = results_md, figures_dir
    self.state = _read_json(os.path.join(runs_dir, driver_lib.STATE_FILE)) or {'steps': {}}
    self.missing: list[str] = []
    self.figures: dict[str, str] = {}

  # ------------------------------------------------------------------------------ inputs

  def step(self, key: str) -> dict:
    return self.state['steps'].get(key, {})

  def workdir(self, name: str) -> str:
    return os.path.join(self.runs_dir, name)

  def test_eval(self, name: str) -> dict | None:
    return _read_json(os.path.join(self.workdir(name), driver_lib.TEST_EVAL_DIR, 'eval.json'))

  def runs(self, part: str) -> list[plan_lib.Run]:
    return [r for r in plan_lib.runs(self.budget) if r.part == part]

  # ----------------------------------------------------------------------------- figures

  def _figure_path(self, name: str) -> str:
    os.makedirs(self.figures_dir, exist_ok=True)
    path = os.path.join(self.figures_dir, name)
    self.figures[name] = os.path.relpath(path, os.path.dirname(os.path.abspath(
        self.results_md)) or '.')
    return path

  def copy_figure(self, source: str, name: str) -> str | None:
    if not os.path.exists(source):
      return None
    shutil.copyfile(source, self._figure_path(name))
    return self.figures[name]

  def plot_curves(self, name: str, series: dict[str, str], *, title: str,
                  hline: tuple[float, str] | None = None, real_key: str = 'eval/real_data/') -> str | None:
    """Validation Parzen LL and FD against steps, one line per run."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    present = {label: wd for label, wd in series.items() if len(curve(wd)[0])}
    if not present:
      return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (key, label) in zip(axes, (('parzen_ll', 'Parzen log-likelihood (nats), validation'),
                                       ('frechet_distance', 'Fréchet distance, validation'))):
      real = None
      for run_label, wd in present.items():
        steps, values = curve(wd, f'eval/{key}')
        ax.plot(steps, values, marker='o', ms=3, label=run_label)
        _, real_values = curve(wd, f'{real_key}{key}')
        if len(real_values):
          real = real_values[-1]
      if real is not None:
        ax.axhline(real, color='k', ls=':', lw=1, label='real data (same code)')
      if hline and key == 'parzen_ll':
        ax.axhline(hline[0], color='tab:red', ls='--', lw=1, label=hline[1])
      if key == 'frechet_distance':
        ax.set_yscale('log')
      ax.set_xlabel('training step')
      ax.set_title(label, fontsize=10)
      ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(self._figure_path(name), dpi=90)
    plt.close(fig)
    return self.figures[name]

  # ----------------------------------------------------------------------------- sections

  def table1(self) -> list[str]:
    runs = self.runs('table1')
    rows, test_lls, per_seed = [], [], []
    real = None
    for run in runs:
      ev, test = self.step(f'test/{run.name}'), self.test_eval(run.name)
      train = self.step(f'train/{run.name}')
      if not test:
        self.missing.append(f'Table 1 run {run.name} (training or its test evaluation)')
        continue
      p = test['parzen']
      test_lls.append(p['ll'])
      real = test['real_data']
      per_seed.append((run, ev, test, train))
      rows.append(
          f"| {run.seed} | {ev['chosen_step']} | {_fmt(ev['validation_parzen_ll'])} | "
          f"{p['ll']:.1f} ± {p['se']:.1f} | {p['sigma']:.3f} | {_fmt(test['frechet_distance'])} "
          f"| {_fmt(test['precision'])} / {_fmt(test['recall'])} | "
          f"{_duration(train.get('wall_s', 0))} |")
    lines = ['## Table 1: MNIST, Parzen window log-likelihood of the test set', '']
    if not test_lls:
      return lines + ['Not run yet.', '']
    steps = self.budget.mnist_steps
    lines += [
        f'The original code\'s recipe (`{plan_lib.MNIST_FLAGS}`) on full MNIST '
        f'(train[0:50000]), {len(test_lls)} seeds × {steps:,} steps. Each seed\'s checkpoint '
        f'was chosen among those every {self.budget.eval_every:,} steps by its validation '
        'Parzen log-likelihood (σ chosen on the first 1,000 validation images, scored on the '
        'other 9,000); only that checkpoint was scored on the test set, once, by the paper\'s '
        'protocol (10,000 samples, σ from logspace(-1, 0, 10) on the first 1,000 validation '
        'images, 10,000 test images).', '',
        '| model | MNIST log-likelihood (nats) |', '|---|---|',
        *(f'| {name} (paper) | {ll} ± {se} |' for name, ll, se in plan_lib.PAPER_TABLE1),
        f'| **Adversarial nets, this reproduction** ({steps:,} steps; mean ± sd over '
        f'{len(test_lls)} seeds) | **{_mean_sd(test_lls)}** |',
        f"| real data: {real['source']}, same code | {real['parzen']['ll']:.1f} ± "
        f"{real['parzen']['se']:.1f} |", '',
        'Each seed (± is the standard error over the 10,000 test images):', '',
        '| seed | chosen step | validation LL | test LL | σ | FD (test) | precision / recall '
        '| wall time |', '|---|---|---|---|---|---|---|---|', *rows, '']
    mean = float(np.mean(test_lls))
    verdict = ('reaches' if mean >= plan_lib.PAPER_GAN_LL else 'does not reach')
    lines += [f'The mean over seeds, {mean:.1f}, {verdict} the paper\'s '
              f'{plan_lib.PAPER_GAN_LL} at {steps:,} steps.', '']
    lines += self.time_to_target(runs)
    series = {f'seed {r.seed}': self.workdir(r.name) for r in runs}
    fig = self.plot_curves('mnist_curves.png', series,
                           title='MNIST, the paper recipe: validation curves',
                           hline=(plan_lib.PAPER_GAN_LL, 'paper (225, test)'))
    if fig:
      lines += [f'![MNIST learning curves]({fig})', '']
    return lines

  def time_to_target(self, runs) -> list[str]:
    target = plan_lib.PAPER_GAN_LL
    lines = [f'### Time to the paper\'s number ({target} nats on validation)', '']
    reached, points = [], []
    for run in runs:
      wd = self.workdir(run.name)
      steps, values = curve(wd)
      if not len(steps):
        continue
      points += list(zip(steps, values))
      hit = np.flatnonzero(values >= target)
      if hit.size:
        loop_steps, seconds = loop_seconds(wd)
        at = int(steps[hit[0]])
        reached.append(f'seed {run.seed}: step {at:,}, '
                       f'{_duration(float(np.interp(at, loop_steps, seconds)))} of training')
    if reached:
      lines.append('The paper recipe first reached it at ' + '; '.join(reached) + '.')
    else:
      best = max(points, key=lambda p: p[1]) if points else None
      lines.append(f'Not reached within {self.budget.mnist_steps:,} steps: the best validation '
                   f'value was {best[1]:.1f} (step {best[0]:,}).' if best else 'No curve yet.')
      late = [(s, v) for s, v in points if s >= self.budget.mnist_steps / 3]
      if len(late) >= 3:
        x = np.log([s for s, _ in late])
        slope, intercept = np.polyfit(x, [v for _, v in late], 1)
        if slope > 0:
          need = math.exp((target - intercept) / slope)
          rate = self._steps_per_second(runs)
          lines.append(
              f'A straight line through the validation values against log(step) from step '
              f'{int(self.budget.mnist_steps / 3):,} on (slope {slope:.1f} nats per e-fold of '
              f'steps; an extrapolation, not a measurement) reaches {target} near step '
              f'{need:,.0f}' + (f', about {_duration(need / rate)} at this machine\'s '
                               f'{rate:.1f} steps/s' if rate else '') +
              '. The momentum ramp of the recipe alone spans 125,000 steps (250 epochs); '
              '`make reproduce FULL=1` runs 150,000 steps per seed, for a GPU.')
    return lines + ['']

  def _steps_per_second(self, runs) -> float | None:
    rates = []
    for run in runs:
      loop_steps, seconds = loop_seconds(self.workdir(run.name))
      if len(loop_steps) > 1 and seconds[-1] > 0:
        rates.append(loop_steps[-1] / seconds[-1])
    return float(np.median(rates)) if rates else None

  def fashion(self) -> list[str]:
    runs = self.runs('fashion')
    lines = ['## Fashion-MNIST, the same recipe', '']
    tests = [(r, self.test_eval(r.name), self.step(f'test/{r.name}')) for r in runs]
    tests = [(r, t, e) for r, t, e in tests if t]
    if not tests:
      self.missing.append('Fashion-MNIST runs')
      return lines + ['Not run yet.', '']
    real = tests[0][1]['real_data']
    lines += [f'`{plan_lib.FASHION_FLAGS}`, {len(tests)} seeds × '
              f'{self.budget.fashion_steps:,} steps, checkpoint chosen on validation, test '
              'numbers of that checkpoint (mean ± sd over seeds), and the same metrics for '
              f'real data ({real["source"]}).', '',
              '| metric | model (test) | real data |', '|---|---|---|']
    for key, label, _ in METRICS:
      values = [_metric(t, key) for _, t, _ in tests]
      lines.append(f'| {label} | {_mean_sd(values)} | {_fmt(_metric(real, key))} |')
    lines += ['', 'Chosen steps: ' + ', '.join(f'seed {r.seed}: {e.get("chosen_step")}'
                                              for r, _, e in tests) + '.', '']
    fig = self.plot_curves('fashion_curves.png',
                           {f'seed {r.seed}': self.workdir(r.name) for r in runs},
                           title='Fashion-MNIST, the paper recipe: validation curves')
    if fig:
      lines += [f'![Fashion-MNIST learning curves]({fig})', '']
    return lines

  def sweep(self) -> list[str]:
    lines = ['## A faster recipe? A small sweep on the paper\'s networks', '']
    sweep_dir = self.workdir('sweep')
    plan = _read_json(os.path.join(sweep_dir, 'sweep.json'))
    best = self.step('test/sweep_best')
    if not plan or not best:
      self.missing.append('the recipe sweep')
      return lines + ['Not run yet.', '']
    steps = self.budget.sweep_steps
    baseline = [r for r in self.runs('table1')][0]
    members = {'paper recipe (Table 1 run, seed 0)': (self.workdir(baseline.name), 1)}
    for group in plan['groups']:
      for m in group['members']:
        members[m['name']] = (os.path.join(sweep_dir, m['name']), len(group['members']))
    lines += [f'`{plan_lib.SWEEP_FILE}`: one change each to the paper recipe, seed 0, '
              f'{steps:,} steps, ranked on validation (σ and score on validation images). '
              'Members that differ only in numbers train as one vmapped population; its time '
              'is shared equally among them.', '',
              f'| recipe | validation LL at step {steps:,} | best validation LL (step) | '
              'FD at that step | training s per 1,000 steps |', '|---|---|---|---|---|']
    for label, (wd, share) in members.items():
      s, v = curve(wd)
      at = v[s == steps]
      loop_steps, seconds = loop_seconds(wd)
      cost = (float(np.interp(steps, loop_steps, seconds)) / share / steps * 1000
              if len(loop_steps) > 1 else None)
      if len(s):
        i = int(np.argmax(np.where(s <= steps, v, -np.inf)))
        fd = curve(wd, 'eval/frechet_distance')[1]
        lines.append(f'| {label} | {_fmt(at[0]) if at.size else "n/a"} | {_fmt(v[i])} '
                     f'({s[i]:,}) | {_fmt(fd[i]) if i < len(fd) else "n/a"} | '
                     f'{_fmt(cost)} |')
      else:
        lines.append(f'| {label} | not trained | | | |')
    test = self.test_eval(os.path.join('sweep', best['member']))
    lines += ['', f"Best on validation: **{best['member']}** (step {best['chosen_step']:,}, "
              f"validation {_fmt(best['validation_parzen_ll'])}); its test number, computed "
              f"once: {test['parzen']['ll']:.1f} ± {test['parzen']['se']:.1f}." if test else '',
              '']
    series = {label: wd for label, (wd, _) in members.items()}
    fig = self.plot_curves('sweep_curves.png', series,
                           title='Recipes on the paper\'s networks: validation curves')
    if fig:
      lines += [f'![Sweep curves]({fig})', '']
    return lines

  def ablations(self) -> list[str]:
    steps = self.budget.ablation_steps
    lines = ['## Ablations on MNIST', '',
             f'Each ablation changes one thing in the original recipe; {steps:,} steps, seeds '
             f'{", ".join(map(str, self.budget.ablation_seeds))}; every metric on validation '
             'images (mean ± sd over seeds). The baseline is the Table 1 runs at the same step.',
             '', '| variant | ' + ' | '.join(label for _, label, _ in METRICS) + ' |',
             '|---|' + '---|' * len(METRICS)]
    base_rows = [eval_row(self.workdir(f'table1/seed_{s}'), steps)
                 for s in self.budget.ablation_seeds]
    base_rows = [r for r in base_rows if r]
    variants = [('original recipe (simultaneous, non-saturating, uniform z)', base_rows)]
    for name, label, _ in plan_lib.ABLATIONS:
      rows = [eval_row(self.workdir(f'ablations/{name}/seed_{s}'), steps)
              for s in self.budget.ablation_seeds]
      rows = [r for r in rows if r]
      if not rows:
        self.missing.append(f'ablation {name}')
      variants.append((label, rows))
    for label, rows in variants:
      cells = [_mean_sd([r.get(k) for r in rows]) if rows else 'not run' for k, _, _ in METRICS]
      lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    lines.append('')
    if base_rows:
      for label, rows in variants[1:]:
        if rows:
          lines.append('- ' + _compare(label, rows, base_rows))
      lines.append('')
    return lines

  def figures_section(self) -> list[str]:
    lines = ['## Figures', '']
    for part, title in (('table1', 'MNIST'), ('fashion', 'Fashion-MNIST')):
      chosen = self._best_seed(part)
      if chosen is None:
        continue
      run, ev = chosen
      base = os.path.join(self.workdir(run.name), driver_lib.TEST_EVAL_DIR)
      prefix = 'mnist' if part == 'table1' else 'fashion'
      f2 = self.copy_figure(os.path.join(base, 'figure2_nearest_neighbours.png'),
                            f'{prefix}_figure2.png')
      f3 = self.copy_figure(os.path.join(base, 'figure3_interpolations.png'),
                            f'{prefix}_figure3.png')
      hist = self.copy_figure(os.path.join(base, 'nn_distances.png'), f'{prefix}_memorisation.png')
      test = self.test_eval(run.name) or {}
      mem = test.get('memorisation', {})
      lines += [f'### {title} (seed {run.seed}, step {ev["chosen_step"]:,}: the seed with the '
                'best validation value)', '']
      if f2:
        lines += [f'Figure 2: fair random draws; the last column is the nearest training image '
                  f'(squared L2 in pixel space) of its left neighbour.', '', f'![]({f2})', '']
      if f3:
        lines += ['Figure 3: linear interpolations in z.', '', f'![]({f3})', '']
      if hist:
        lines += ['Memorisation: distance to the nearest training image, samples vs test images'
                  + (f" (median L2 {mem['samples_median_l2']:.2f} for samples, "
                     f"{mem['test_median_l2']:.2f} for test images)" if mem else '') + '.', '',
                  f'![]({hist})', '']
    toy = self.workdir('toy1d')
    f1 = self.copy_figure(os.path.join(toy, 'figure1.png'), 'toy1d_figure1.png')
    numbers = _read_json(os.path.join(toy, 'figure1.json'))
    if f1:
      lines += ['### Figure 1 and the theory, in 1-D (`experiments.toy1d`)', '', f'![]({f1})', '']
      if numbers:
        lines += ['Numbers of that run (`figure1.json`):', '', '| quantity | value |', '|---|---|']
        lines += [f'| {k} | {_fmt(v)} |' for k, v in _flat(numbers).items()] + ['']
    else:
      self.missing.append('the 1-D experiment (Figure 1)')
    return lines

  def _best_seed(self, part: str):
    best = None
    for run in self.runs(part):
      ev = self.step(f'test/{run.name}')
      if ev.get('status') == 'done' and (best is None or ev['validation_parzen_ll'] >
                                         best[1]['validation_parzen_ll']):
        best = (run, ev)
    return best

  def provenance(self) -> list[str]:
    machine = self.state.get('machine', {})
    total = sum(s.get('wall_s', 0) for s in self.state['steps'].values())
    commits = sorted({s.get('commit', '?') for s in self.state['steps'].values()})
    lines = ['## How these numbers were made', '',
             f"Budget `{self.budget.name}`; machine: {machine.get('cpu', '?')}, "
             f"{machine.get('cores', '?')} cores, {machine.get('platform', '?')}, "
             f"Python {machine.get('python', '?')}; started {self.state.get('started', '?')}, "
             f"finished {self.state.get('finished', 'not yet')}; {_duration(total)} of steps "
             f"in all; commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}.", '',
             '| step | command | seeds | wall time | load (1-min avg) before → after |',
             '|---|---|---|---|---|']
    for key, s in self.state['steps'].items():
      lines.append(f"| {key} | `{s.get('command', '')}` | {s.get('seed', '')} | "
                   f"{_duration(s.get('wall_s', 0))} | {s.get('load_before', 0):.1f} → "
                   f"{s.get('load_after', 0):.1f} |")
    return lines + ['']

  def write(self) -> str:
    body = [*self.table1(), *self.sweep(), *self.fashion(), *self.ablations(),
            *self.figures_section()]
    head = ['# Results: Generative Adversarial Nets (Goodfellow et al., 2014), reproduced', '',
            f'Generated by `python -m experiments.reproduce --budget={self.budget.name}` '
            '(`make reproduce`) from the outputs of its runs; regenerate it, never edit it. '
            'Every number below comes from a run recorded in the last section.', '']
    if self.missing:
      head += ['**Missing (not run yet):** ' + '; '.join(self.missing) + '.', '']
    text = '\n'.join(head + body + self.provenance())
    writers.write_text(self.results_md, text.rstrip('\n') + '\n')
    return text


def _metric(result: dict, key: str):
  if key == 'parzen_ll':
    return result['parzen']['ll']
  if key == 'kid':
    return result['kid']['mean']
  return result.get(key)


def _compare(label: str, rows: list[dict], base: list[dict]) -> str:
  """A generated sentence: the ablation's validation Parzen LL and FD against the baseline's,
  with the seed spread as the yardstick."""
  parts = []
  for key, name, higher in (('parzen_ll', 'Parzen LL', True), ('frechet_distance', 'FD', False)):
    a = np.array([r[key] for r in rows]); b = np.array([r[key] for r in base])
    diff = a.mean() - b.mean()
    spread = max(a.std(ddof=1) if len(a) > 1 else 0, b.std(ddof=1) if len(b) > 1 else 0)
    better = (diff > 0) == higher
    if spread and abs(diff) <= 2 * spread:
      judgement = 'within twice the seed spread'
    else:
      judgement = 'better' if better else 'worse'
    parts.append(f'{name} {_fmt(a.mean())} vs {_fmt(b.mean())} ({judgement})')
  return f'**{label}** against the original recipe: ' + '; '.join(parts) + '.'


def _flat(value, prefix: str = '') -> dict:
  out = {}
  if isinstance(value, dict):
    for k, v in value.items():
      out.update(_flat(v, f'{prefix}{k}.' if isinstance(v, dict) else f'{prefix}{k}'))
  elif isinstance(value, (int, float)) and not isinstance(value, bool):
    out[prefix.rstrip('.')] = value
  return out
