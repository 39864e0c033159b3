"""The ablations on MNIST, each against the original recipe at the same step."""

import numpy as np

from experiments.reproduce import plan as plan_lib
from experiments.reproduce.sections import common


def section(page) -> list[str]:
  """One row per ablation (validation metrics, mean ± sd over seeds) and its verdict."""
  steps = page.budget.ablation_steps
  lines = [
    '## Ablations on MNIST',
    '',
    f'Each ablation changes one thing in the original recipe; {steps:,} steps, seeds '
    f'{", ".join(map(str, page.budget.ablation_seeds))}; every metric on validation '
    'images (mean ± sd over seeds). The baseline is the Table 1 runs at the same step.',
    '',
    '| variant | ' + ' | '.join(label for _, label, _ in common.METRICS) + ' |',
    '|---|' + '---|' * len(common.METRICS),
  ]
  base_rows = [
    common.eval_row(page.workdir(f'table1/seed_{s}'), steps) for s in page.budget.ablation_seeds
  ]
  base_rows = [r for r in base_rows if r]
  variants = [('original recipe (simultaneous, non-saturating, uniform z)', base_rows)]
  for name, label, _ in plan_lib.ABLATIONS:
    rows = [
      common.eval_row(page.workdir(f'ablations/{name}/seed_{s}'), steps)
      for s in page.budget.ablation_seeds
    ]
    rows = [r for r in rows if r]
    if not rows:
      page.missing.append(f'ablation {name}')
    else:
      page.present.append(f'ablations/{name}')
    variants.append((label, rows))
  for label, rows in variants:
    cells = [
      common.mean_sd([r.get(k) for r in rows]) if rows else 'not run' for k, _, _ in common.METRICS
    ]
    lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
  lines.append('')
  series = {
    f'original, seed {s}': (
      page.workdir(f'table1/seed_{s}'),
      f'{common.own_g(page.workdir(f"table1/seed_{s}"))}/parzen_ll',
    )
    for s in page.budget.ablation_seeds
  }
  for name, _, _ in plan_lib.ABLATIONS:
    series.update(
      {
        f'{name}, seed {s}': page.workdir(f'ablations/{name}/seed_{s}')
        for s in page.budget.ablation_seeds
      }
    )
  fig = page.plot_curves(
    'ablation_curves.png', series, max_step=steps, title='Ablations: validation curves'
  )
  if fig:
    lines += [f'![Ablation curves]({fig})', '']
  if base_rows:
    for label, rows in variants[1:]:
      if rows:
        lines.append('- ' + compare(label, rows, base_rows))
    lines.append('')
  return lines


def compare(label: str, rows: list[dict], base: list[dict]) -> str:
  """A generated sentence: the ablation's validation Parzen LL and FD against the baseline's,
  with the seed spread as the yardstick."""
  parts = []
  for key, name, higher in (('parzen_ll', 'Parzen LL', True), ('frechet_distance', 'FD', False)):
    a = np.array([r[key] for r in rows])
    b = np.array([r[key] for r in base])
    diff = a.mean() - b.mean()
    spread = max(a.std(ddof=1) if len(a) > 1 else 0, b.std(ddof=1) if len(b) > 1 else 0)
    better = (diff > 0) == higher
    if spread and abs(diff) <= 2 * spread:
      judgement = 'within twice the seed spread'
    else:
      judgement = 'better' if better else 'worse'
    parts.append(f'{name} {common.fmt(a.mean())} vs {common.fmt(b.mean())} ({judgement})')
  return f'**{label}** against the original recipe: ' + '; '.join(parts) + '.'
