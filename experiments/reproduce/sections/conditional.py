"""Beyond the paper: the conditional GAN of its section 7 (Mirza & Osindero 2014's networks and
recipe) on MNIST and Fashion-MNIST, with the metrics that use the condition, the targets and
gates it is held to, and its samples, a row per class."""

import os

from experiments.reproduce import driver as driver_lib
from experiments.reproduce import plan as plan_lib
from experiments.reproduce.sections import common

# (part, label, test evaluation dir, driver step prefix, data set)
KINDS = (
  ('cgan', '`mnist_cgan` (Mirza & Osindero), G', driver_lib.TEST_EVAL_DIR, 'test', 'mnist'),
  (
    'cgan',
    '`mnist_cgan`, G averaged (decay 0.9999)',
    driver_lib.AVERAGE_TEST_EVAL_DIR,
    'test_average',
    'mnist',
  ),
  (
    'cgan_concat',
    "`mnist_mlp_cgan` (the paper's nets, y concatenated), G",
    driver_lib.TEST_EVAL_DIR,
    'test',
    'mnist',
  ),
  (
    'cgan_fashion',
    '`mnist_cgan` on Fashion-MNIST, G',
    driver_lib.TEST_EVAL_DIR,
    'test',
    'fashion_mnist',
  ),
)
DATA_NAMES = {'mnist': 'MNIST', 'fashion_mnist': 'Fashion-MNIST'}


def _seeds(page, part: str, eval_dir: str, prefix: str) -> list[tuple]:
  """(run, its test record, its test eval.json) of each tested seed of `part`."""
  out = []
  for run in page.runs(part):
    test = common.read_json(os.path.join(page.workdir(run.name), eval_dir, 'eval.json'))
    record = page.step(f'{prefix}/{run.name}')
    if test and record and 'conditional' in test:
      out.append((run, record, test))
  return out


def _row(metrics: dict, cond: dict, nn: float | None, nn_test: float | None = None) -> dict:
  """One table row's numbers: the metrics of a set of images, their conditional metrics and
  their median distance to the nearest training image."""
  return {
    'parzen_ll': metrics['parzen']['ll'],
    'accuracy': cond['conditional_accuracy'],
    'class_fd': cond['mean_class_frechet_distance'],
    'frechet_distance': metrics['frechet_distance'],
    'precision': metrics['precision'],
    'recall': metrics['recall'],
    'nn': nn,
    'nn_test': nn_test,
  }


def _numbers(test: dict) -> dict:
  """The samples' row of a test evaluation."""
  return _row(test, test['conditional'], common.nn(test, 'samples'), common.nn(test, 'test'))


def _real(test: dict) -> dict:
  """The real-data row of a test evaluation (its held-out images' distance as theirs)."""
  return _row(test['real_data'], test['conditional']['real_data'], common.nn(test, 'test'))


def _cells(rows: list[dict]) -> list[str]:
  def col(key):
    return common.mean_sd([r[key] for r in rows if r.get(key) is not None])

  return [
    col('parzen_ll'),
    col('accuracy'),
    col('class_fd'),
    col('frechet_distance'),
    f'{col("precision")} / {col("recall")}',
    col('nn'),
  ]


def _unconditional(page) -> dict | None:
  """The unconditional fast recipe's test numbers at equal steps (its seeds' means), the
  reference the gates compare with."""
  tests = []
  for run in page.runs('table1_fast'):
    test = page.test_eval(run.name)
    if test and run.num_steps == page.budget.cgan_steps:
      tests.append(test)
  if not tests:
    return None
  mean = lambda f: sum(f(t) for t in tests) / len(tests)
  return {
    'frechet_distance': mean(lambda t: t['frechet_distance']),
    'precision': mean(lambda t: t['precision']),
    'recall': mean(lambda t: t['recall']),
    'seeds': len(tests),
  }


def _verdict(n: dict, target: float, reference: dict | None) -> list[str]:
  """What a seed of a G row misses of the targets: conditional accuracy, Parzen >= 132 and the
  gates (FD, precision, recall no worse than the unconditional recipe's, samples no closer to
  the training set than test images)."""
  ll = plan_lib.MIRZA_OSINDERO_LL[0]
  misses = []
  if n['accuracy'] < target:
    misses.append(f'conditional accuracy {n["accuracy"]:.3f} < {target}')
  if n['parzen_ll'] < ll:
    misses.append(f'Parzen {n["parzen_ll"]:.1f} < {ll}')
  if n['nn'] is not None and n['nn_test'] is not None and n['nn'] < n['nn_test']:
    misses.append(f"memorisation: NN median {n['nn']:.2f} < test images' {n['nn_test']:.2f}")
  if reference:
    if n['frechet_distance'] > reference['frechet_distance']:
      misses.append(f'FD {n["frechet_distance"]:.2f} > {reference["frechet_distance"]:.2f}')
    for key in ('precision', 'recall'):
      if n[key] < reference[key]:
        misses.append(f'{key} {n[key]:.3f} < {reference[key]:.3f}')
  return misses


def all_results(page) -> set[str]:
  """The results a complete reproduction's conditional section holds."""
  return {
    f'{prefix}/{run.name}'
    for part, _, _, prefix, _ in KINDS
    if part in page.budget.parts
    for run in page.runs(part)
  }


def section(page) -> list[str]:
  """The conditional GAN: a table of its rows beside Mirza & Osindero's, each seed's verdict
  against the targets and gates, and its samples by class."""
  lines = [
    "## Beyond the paper: the conditional GAN of the paper's section 7",
    '',
  ]
  if not page.budget.cgan_steps or not any(p.startswith('cgan') for p in page.budget.parts):
    return []
  found = {kind[1]: _seeds(page, *(kind[0], kind[2], kind[3])) for kind in KINDS}
  if not any(found.values()):
    page.missing.append('the conditional GAN runs')
    return lines + ['Not run yet.', '']
  ll, se = plan_lib.MIRZA_OSINDERO_LL
  reference = _unconditional(page)
  targets = dict(plan_lib.CGAN_ACCURACY_TARGETS)
  lines += [
    '"A conditional generative model p(x | c) can be obtained by adding c as input to both G '
    'and D" (section 7). Mirza & Osindero (2014) built it on this MNIST setting '
    f"(`{plan_lib.CGAN_FLAGS}`: their networks and optimiser, the original code's data and "
    f"loss) and reported {ll} ± {se} nats by the paper's Parzen protocol. Each run trains "
    f'{page.budget.cgan_steps:,} steps; the checkpoint is chosen on validation by Parzen among '
    'those whose samples sit no closer to the training set than held-out images do (the fast '
    "recipe's gate), and scored once on test, its samples drawn with labels in the training "
    "split's class mix. Conditional accuracy is the share of samples the evaluation classifier "
    "assigns to the class they were asked for; its real-data row is that classifier's accuracy "
    'on the test images. The per-class Fréchet distance compares each class with the test '
    'images of its class (about a tenth of the images each, so larger than the FD: compare it '
    'with its real-data row). Parzen has the caveats of Table 1: it rewards blur, so it is '
    'never read alone.',
    '',
    '| model | seeds | test Parzen LL | conditional accuracy | mean per-class FD | FD | '
    'precision / recall | NN median L2 |',
    '|---|---|---|---|---|---|---|---|',
    f'| Mirza & Osindero (2014), their Table 1 | | {ll} ± {se} | | | | | |',
  ]
  reals = {}
  for _, label, _, prefix, dataset in KINDS:
    seeds = found[label]
    if not seeds:
      continue
    page.present += [f'{prefix}/{r.name}' for r, _, _ in seeds]
    reals.setdefault(dataset, seeds[0][2])
    cells = _cells([_numbers(t) for _, _, t in seeds])
    lines.append(f'| {label} | {len(seeds)} | ' + ' | '.join(cells) + ' |')
  for dataset, test in reals.items():
    cells = _cells([_real(test)])
    lines.append(
      f'| real {DATA_NAMES[dataset]} ({test["real_data"]["source"]}) | | '
      + ' | '.join(cells)
      + ' |'
    )
  if reference:
    lines.append(
      f'| unconditional fast recipe, {page.budget.cgan_steps:,} steps ({reference["seeds"]} '
      f'seeds; Table 1) | | | | | {common.fmt(reference["frechet_distance"])} | '
      f'{common.fmt(reference["precision"])} / {common.fmt(reference["recall"])} | |'
    )
  goals = ', '.join(f'{v} on {DATA_NAMES[k]}' for k, v in targets.items())
  lines += [
    '',
    f'**Each seed against the targets** (conditional accuracy ≥ {goals}; Parzen ≥ {ll}; on '
    'MNIST, FD, precision and recall no worse than the unconditional recipe at equal steps; '
    'samples no closer to the training set than test images):',
    '',
  ]
  for part, label, _, prefix, dataset in KINDS:
    seeds = found[label]
    if len(seeds) > 1:
      reached = sum(_numbers(t)['accuracy'] >= targets[dataset] for _, _, t in seeds)
      lines.append(
        f'- {label}: {reached} of {len(seeds)} seeds reach the conditional accuracy target.'
      )
    for run, record, test in seeds:
      n = _numbers(test)
      misses = _verdict(n, targets[dataset], reference if dataset == 'mnist' else None)
      verdict = 'meets every target' if not misses else 'misses: ' + '; '.join(misses)
      lines.append(
        f'- {label}, seed {run.seed} (step {record.get("chosen_step", "?"):,}): '
        f'accuracy {n["accuracy"]:.3f}, Parzen {n["parzen_ll"]:.1f}: {verdict}.'
      )
  for part in ('cgan', 'cgan_fashion', 'cgan_concat'):
    for run in page.runs(part):
      for prefix, which in (('test', 'G'), ('test_average', 'its average of G')):
        record = page.step(f'{prefix}/{run.name}')
        if record.get('status') == driver_lib.NO_CHECKPOINT_PASSES:
          lines.append(
            f'- `{run.name}`, {which}: no evaluated checkpoint passes its selection gate '
            f'({record["selected_by"]}), so it has no test row.'
          )
  lines.append('')
  lines += _grids(page, found)
  return lines


def _grids(page, found) -> list[str]:
  """Figure 2 of every tested G (a row per class, the nearest training image of each row's
  last sample beside it) and Figure 3 (interpolations in z, the class held along each row)."""
  lines = ['### Samples by class', '']
  for part, label, eval_dir, _, dataset in KINDS:
    if eval_dir != driver_lib.TEST_EVAL_DIR:
      continue
    for run, record, _ in found[label]:
      base = os.path.join(page.workdir(run.name), eval_dir)
      name = f'{part}_seed_{run.seed}'
      f2 = page.copy_figure(
        os.path.join(base, 'figure2_nearest_neighbours.png'), f'{name}_figure2.png'
      )
      f3 = page.copy_figure(os.path.join(base, 'figure3_interpolations.png'), f'{name}_figure3.png')
      if f2 or f3:
        lines += [
          f'{label}, seed {run.seed}, step {record.get("chosen_step", "?"):,}: Figure 2 (row c '
          'asks for class c; the last column is the nearest training image of its left '
          'neighbour) and Figure 3 (z interpolated, the class held fixed along each row).',
          '',
          ' '.join(f'![]({f})' for f in (f2, f3) if f),
          '',
        ]
  return lines
