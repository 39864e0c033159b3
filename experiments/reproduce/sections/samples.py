"""The Figures section's sample grids: Figures 2 and 3 and the memorisation histogram of
each recipe's best seed."""

import os

from experiments.reproduce import driver as driver_lib


def section(page) -> list[str]:
  """The samples of the best seed (on validation) of each recipe: Figures 2 and 3 and the
  memorisation histogram, as its test evaluation drew them."""
  lines = []
  # Every Table 1 claim carries its samples: the paper recipe's and the fast recipe's grids.
  for part, title, prefix in (
    ('table1', "MNIST, the paper's recipe", 'mnist'),
    ('table1_fast', 'MNIST, the fast recipe (its average of G)', 'mnist_fast'),
    ('fashion', 'Fashion-MNIST', 'fashion'),
  ):
    chosen = _best_seed(page, part)
    if chosen is None:
      continue
    run, ev = chosen
    base = os.path.join(page.workdir(run.name), driver_lib.TEST_EVAL_DIR)
    f2 = page.copy_figure(
      os.path.join(base, 'figure2_nearest_neighbours.png'), f'{prefix}_figure2.png'
    )
    f3 = page.copy_figure(os.path.join(base, 'figure3_interpolations.png'), f'{prefix}_figure3.png')
    hist = page.copy_figure(os.path.join(base, 'nn_distances.png'), f'{prefix}_memorisation.png')
    test = page.test_eval(run.name) or {}
    mem = test.get('memorisation', {})
    lines += [
      f'### {title} (seed {run.seed}, step {ev["chosen_step"]:,}: the seed with the '
      'best validation value)',
      '',
    ]
    if f2:
      lines += [
        f'Figure 2: fair random draws; the last column is the nearest training image '
        f'(squared L2 in pixel space) of its left neighbour.',
        '',
        f'![]({f2})',
        '',
      ]
    if f3:
      lines += ['Figure 3: linear interpolations in z.', '', f'![]({f3})', '']
    if hist:
      lines += [
        'Memorisation: distance to the nearest training image, samples vs test images'
        + (
          f' (median L2 {mem["samples_median_l2"]:.2f} for samples, '
          f'{mem["test_median_l2"]:.2f} for test images)'
          if mem
          else ''
        )
        + '.',
        '',
        f'![]({hist})',
        '',
      ]
  return lines


def _best_seed(page, part: str):
  best = None
  for run in page.runs(part):
    ev = page.step(f'test/{run.name}')
    if ev.get('status') == 'done' and (
      best is None or ev['validation_parzen_ll'] > best[1]['validation_parzen_ll']
    ):
      best = (run, ev)
  return best
