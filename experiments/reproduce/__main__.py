r"""Reproduces the paper's Table 1 row on MNIST with everything around it, and writes RESULTS.md.

  python -m experiments.reproduce                    # standard: < 2 h on 2 CPU cores
  python -m experiments.reproduce --budget=quick     # the same pipeline in minutes
  python -m experiments.reproduce --budget=full      # the paper's length, for a GPU
  python -m experiments.reproduce --budget=gpu --export=results/gpu   # make gpu-check

Trains the Table 1 seeds, Fashion-MNIST, a recipe sweep, the ablations and the 1-D experiment
(experiments/reproduce/plan.py), chooses checkpoints on validation, scores them on test once,
and regenerates RESULTS.md and its figures from the outputs. Run the same command again after an
interruption: it resumes where it stopped. --report_only rewrites RESULTS.md from what exists.

The published page survives every command: the page and its figures folder are checked before
anything runs (written only when new or made by the report), a report needs a reproduction
record in --runs_dir, and a page (or README's Results section) is never replaced by one holding
fewer results without --overwrite.
"""

import dataclasses
import os

from absl import flags

from experiments import cli
from experiments.reproduce import driver
from experiments.reproduce import plan as plan_lib
from experiments.reproduce import report as report_lib
from gan_jax.base.errors import UserError

flags.DEFINE_enum(
  'budget',
  'standard',
  list(plan_lib.BUDGETS),
  'How long each part trains (experiments/reproduce/plan.py).',
)
flags.DEFINE_string(
  'runs_dir',
  None,
  'Where the runs go (default: runs/reproduce for standard, runs/reproduce_<budget> otherwise).',
)
flags.DEFINE_string(
  'results',
  None,
  'The results page (default: RESULTS.md for standard, '
  '<runs_dir>/RESULTS.md otherwise, so a quick or full run never overwrites '
  'the published page).',
)
flags.DEFINE_list(
  'parts',
  None,
  f'Run only these parts of the budget (of {", ".join(plan_lib.PARTS)}); the page then '
  'reports what exists.',
)
flags.DEFINE_bool('report_only', False, 'Only regenerate the results page from existing runs.')
flags.DEFINE_bool(
  'overwrite',
  False,
  "Replace a results page (and README's Results section) even with one holding fewer results.",
)
flags.DEFINE_string(
  'export',
  None,
  "Also write Table 1's rows as a small summary (table1.json, the best seed's Figure 2) into "
  'this directory, for committing: make gpu-check exports to results/gpu, which make '
  'reproduce reports beside its own rows.',
)
cli.path_flags('runs_dir', 'results')
FLAGS = flags.FLAGS


def main(argv):
  cli.no_positional_args(argv)
  budget = plan_lib.BUDGETS[FLAGS.budget]
  if FLAGS.parts:
    unknown = sorted(set(FLAGS.parts) - set(budget.parts))
    if unknown:
      raise UserError(
        f'--parts={",".join(unknown)}: not a part of budget {budget.name} '
        f'({", ".join(budget.parts)})'
      )
    budget = dataclasses.replace(budget, parts=tuple(p for p in budget.parts if p in FLAGS.parts))
  standard = budget.name == 'standard'
  for name in ('runs_dir', 'results'):
    if getattr(FLAGS, name) is not None and not getattr(FLAGS, name).strip():
      raise UserError(f'--{name} is empty (an unset shell variable?); pass a path or leave it out')
  runs_dir = FLAGS.runs_dir or os.path.join(
    'runs', 'reproduce' if standard else f'reproduce_{budget.name}'
  )
  results = FLAGS.results or ('RESULTS.md' if standard else os.path.join(runs_dir, 'RESULTS.md'))
  figures_dir = os.path.join(os.path.dirname(results) or '.', 'results')
  # README's Results section follows the published page.
  readme = report_lib.README if standard and FLAGS.results is None else None
  report_lib.check_target(results, figures_dir)  # before anything runs
  if FLAGS.report_only:
    report_lib.read_state(runs_dir, budget)
  else:
    driver.reproduce(budget, runs_dir)
  page = report_lib.Report(runs_dir, budget, results, figures_dir)
  page.write(overwrite=FLAGS.overwrite, readme=readme)
  print(f'wrote {results} and its figures in {figures_dir}')
  if FLAGS.export:
    from experiments.reproduce import export

    print(f'exported Table 1 to {export.export(runs_dir, budget, FLAGS.export)}')


if __name__ == '__main__':
  cli.run(main)
