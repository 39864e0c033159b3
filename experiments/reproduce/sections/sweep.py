"""The recipe sweep on the paper's networks, ranked on validation."""

import os

import numpy as np

from experiments.reproduce import plan as plan_lib
from experiments.reproduce.sections import common


def section(page) -> list[str]:
  """The sweep table: each recipe's validation curve at and up to the sweep's steps."""
  if 'sweep' not in page.budget.parts:
    return []
  lines = ["## A faster recipe? A small sweep on the paper's networks", '']
  sweep_dir = page.workdir('sweep')
  plan = common.read_json(os.path.join(sweep_dir, 'sweep.json'))
  best = page.step('test/sweep_best')
  if not plan or not best:
    page.missing.append('the recipe sweep')
    return lines + ['Not run yet.', '']
  page.present.append('sweep')
  steps = page.budget.sweep_steps
  members = {}
  for baseline in page.runs('table1')[:1]:  # none in a reproduction without Table 1
    members['paper recipe (Table 1 run, seed 0)'] = (page.workdir(baseline.name), 1)
  # Each run's own G: the Table 1 runs also keep an average, evaluated apart.
  for group in plan['groups']:
    for m in group['members']:
      members[m['name']] = (os.path.join(sweep_dir, m['name']), len(group['members']))
  lines += [
    f'`{plan_lib.SWEEP_FILE}`: one change each to the paper recipe, seed 0, '
    f'{steps:,} steps, ranked on validation (σ and score on validation images). '
    'Members that differ only in numbers train as one vmapped population; its time '
    'is shared equally among them.',
    '',
    f'| recipe | validation LL at step {steps:,} | best validation LL (step) | '
    'FD at that step | training s per 1,000 steps |',
    '|---|---|---|---|---|',
  ]
  for label, (wd, share) in members.items():
    own = common.own_g(wd)
    s, v = common.curve(wd, f'{own}/parzen_ll')
    at = v[s == steps]
    loop_steps, seconds = common.loop_seconds(wd)
    cost = (
      float(np.interp(steps, loop_steps, seconds)) / share / steps * 1000
      if len(loop_steps) > 1
      else None
    )
    if len(s):
      i = int(np.argmax(np.where(s <= steps, v, -np.inf)))
      fd = common.curve(wd, f'{own}/frechet_distance')[1]
      lines.append(
        f'| {label} | {common.fmt(at[0]) if at.size else "n/a"} | {common.fmt(v[i])} '
        f'({s[i]:,}) | {common.fmt(fd[i]) if i < len(fd) else "n/a"} | '
        f'{common.fmt(cost)} |'
      )
    else:
      lines.append(f'| {label} | not trained | | | |')
  test = page.test_eval(os.path.join('sweep', best['member']))
  lines += [
    '',
    f'Best on validation: **{best["member"]}** (step {best["chosen_step"]:,}, '
    f'validation {common.fmt(best["validation_parzen_ll"])}); its test number, computed '
    f'once: {test["parzen"]["ll"]:.1f} ± {test["parzen"]["se"]:.1f}.'
    if test
    else '',
    '',
  ]
  series = {label: (wd, f'{common.own_g(wd)}/parzen_ll') for label, (wd, _) in members.items()}
  fig = page.plot_curves(
    'sweep_curves.png', series, title="Recipes on the paper's networks: validation curves"
  )
  if fig:
    lines += [f'![Sweep curves]({fig})', '']
  return lines
