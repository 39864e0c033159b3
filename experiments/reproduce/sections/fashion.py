"""Fashion-MNIST, the same recipe: test numbers of the checkpoints chosen on validation."""

from experiments.reproduce import plan as plan_lib
from experiments.reproduce.sections import common


def section(page) -> list[str]:
  """Fashion-MNIST: the test metrics of each seed's chosen checkpoint beside real data."""
  runs = page.runs('fashion')
  lines = ['## Fashion-MNIST, the same recipe', '']
  tests = [(r, page.test_eval(r.name), page.step(f'test/{r.name}')) for r in runs]
  tests = [(r, t, e) for r, t, e in tests if t]
  if not tests:
    page.missing.append('Fashion-MNIST runs')
    return lines + ['Not run yet.', '']
  page.present += [r.name for r, _, _ in tests]
  real = tests[0][1]['real_data']
  lines += [
    f'`{plan_lib.FASHION_FLAGS}`, {len(tests)} seeds × '
    f'{page.budget.fashion_steps:,} steps, checkpoint chosen on validation, test '
    'numbers of that checkpoint (mean ± sd over seeds), and the same metrics for '
    f'real data ({real["source"]}).',
    '',
    '| metric | model (test) | real data |',
    '|---|---|---|',
  ]
  for key, label, _ in common.METRICS:
    values = [common.metric(t, key) for _, t, _ in tests]
    lines.append(f'| {label} | {common.mean_sd(values)} | {common.fmt(common.metric(real, key))} |')
  lines += [
    '',
    'Chosen steps: '
    + ', '.join(f'seed {r.seed}: {e.get("chosen_step")}' for r, _, e in tests)
    + '.',
    '',
  ]
  fig = page.plot_curves(
    'fashion_curves.png',
    {f'seed {r.seed}': page.workdir(r.name) for r in runs},
    title='Fashion-MNIST, the paper recipe: validation curves',
  )
  if fig:
    lines += [f'![Fashion-MNIST learning curves]({fig})', '']
  return lines
