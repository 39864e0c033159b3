"""Ranking a sweep's members: each member's evaluation record, and the results tables.

A member's evaluation (sweep_eval.json, next to its checkpoints) is reused while its newest
checkpoint is the same; results.csv and results.md rank every member by one metric, with the
reference row (the same metrics on real images) below.
"""

import csv
import json
import math
import os
from typing import Any

from gan_jax.base import files
from gan_jax.base.errors import ConfigError
from gan_jax.evaluation import gates as gates_lib
from gan_jax.runtime import distributed, rundir, writers
from gan_jax.sweep import plan as plan_lib

EVAL_FILE = 'sweep_eval.json'
# What --eval computes: the paper's Parzen LL only (no classifier), every metric of
# gan_jax.evaluation (trains and caches its classifier on first use), or nothing (rank by a
# training metric).
EVAL_MODES = ('auto', 'parzen', 'full', 'none')
TRAINING_METRICS = ('d_loss', 'g_loss', 'd_real', 'd_fake')
# True: higher is better. Training losses have no better direction: --rank_mode says.
METRIC_DIRECTIONS = {
  'parzen_ll': True,
  'frechet_distance': False,
  'kid': False,
  'classifier_score': True,
  'precision': True,
  'recall': True,
  'coverage': True,
  'class_kl': False,
}


def parse_gates(text: str) -> tuple[gates_lib.Gate, ...]:
  """--gates, parsed; a gate on a metric the evaluation does not compute is refused."""
  parsed = gates_lib.parse(text)
  known = {*METRIC_DIRECTIONS, 'parzen_se', 'nn_median_l2'}
  for gate in parsed:
    if gate.metric not in known:
      raise ConfigError(
        f'--gates: {gate.metric} is not an evaluation metric; use one of {", ".join(sorted(known))}'
      )
  return parsed


def resolve_eval_mode(mode: str, rank_by: str, gates=()) -> str:
  """The evaluation --rank_by and --gates need when --eval=auto; checks they agree otherwise."""
  if mode not in EVAL_MODES:
    raise ConfigError(f'--eval={mode} is not one of {", ".join(EVAL_MODES)}')
  needs = _needs(rank_by)
  if needs is None:
    known = [*METRIC_DIRECTIONS, 'parzen_se', *TRAINING_METRICS]
    raise ConfigError(f'--rank_by={rank_by} is not a metric; use one of {", ".join(known)}')
  order = {'none': 0, 'parzen': 1, 'full': 2}
  what = f'--rank_by={rank_by}'
  gates_need = max((_needs(g.metric) or 'full' for g in gates), key=order.get, default='none')
  if order[gates_need] > order[needs]:
    needs, what = gates_need, f'--gates={",".join(map(str, gates))}'
  if mode == 'auto':
    return needs
  if order[mode] < order[needs]:
    raise ConfigError(f'{what} needs --eval={needs} (or auto), got --eval={mode}')
  return mode


def _needs(metric: str) -> str | None:
  """The evaluation that computes `metric` (None: not a metric)."""
  if metric in TRAINING_METRICS:
    return 'none'
  if metric in ('parzen_ll', 'parzen_se'):
    return 'parzen'
  return 'full' if metric in METRIC_DIRECTIONS else None


def rank_direction(rank_by: str, rank_mode: str) -> bool:
  """True if higher is better: --rank_mode=max/min, or the metric's own direction (auto)."""
  if rank_mode in ('max', 'min'):
    return rank_mode == 'max'
  if rank_mode != 'auto':
    raise ConfigError(f'--rank_mode={rank_mode} is not one of auto, max, min')
  if rank_by in METRIC_DIRECTIONS:
    return METRIC_DIRECTIONS[rank_by]
  if rank_by == 'parzen_se':
    return False
  raise ConfigError(f'--rank_by={rank_by} has no better direction; pass --rank_mode=max or min')


def record_eval(workdir: str, step: int, mode: str, scalars: dict[str, float]) -> None:
  if distributed.is_primary():
    files.write_text(
      os.path.join(workdir, EVAL_FILE),
      json.dumps(
        {'step': int(step), 'eval': mode, **{k: float(v) for k, v in scalars.items()}},
        indent=2,
        sort_keys=True,
      )
      + '\n',
    )


def read_eval(workdir: str) -> dict | None:
  path = os.path.join(workdir, EVAL_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError):
    return None


def results_rows(
  plan: plan_lib.Plan, workdir: str, rank_by: str, higher_is_better: bool, gates=()
) -> tuple[list[dict[str, Any]], dict[str, float]]:
  """One row per member, best first: those that pass every gate, then those that fail one (the
  'gates' column says which, by how much), then members without the metric (failed, not
  trained).

  Returns:
    (rows, the reference row's scalars: the same metrics on real data, where computed).
  """
  rows, reference = [], {}
  for group in plan.groups:
    for member in group.members:
      member_dir = os.path.join(workdir, member.name)
      row = {'member': member.name, 'group': group.name}
      row.update({k: getattr(member.config, k) for k in plan.swept_fields()})
      if rundir.failed(member_dir):
        row['status'] = 'failed (non-finite)'
      elif (done := read_eval(member_dir)) is None:
        row['status'] = 'not trained'
      else:
        row['status'] = 'ok'
        row['step'] = done['step']
        for k, v in done.items():
          if k.startswith('real_data/'):
            reference[k.split('/', 1)[1]] = v
          elif k not in ('step', 'eval'):
            row[k] = v
      last = writers.read_metrics(member_dir)
      if last:
        row.update({k: last[-1][k] for k in TRAINING_METRICS if k in last[-1]})
      row['workdir'] = member_dir
      rows.append(row)
  if gates:
    for row in rows:
      if row['status'] == 'ok':
        row['gates'] = '; '.join(gates_lib.check(gates, row, reference)) or 'pass'

  def key(row):
    value = row.get(rank_by) if row['status'] == 'ok' else None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
      return (2, 0.0)
    return (0 if row.get('gates', 'pass') == 'pass' else 1, -value if higher_is_better else value)

  rows.sort(key=key)
  for rank, row in enumerate(rows, 1):
    row['rank'] = rank if key(row)[0] < 2 else ''
  return rows, reference


def write_results(
  plan: plan_lib.Plan, workdir: str, rank_by: str, higher_is_better: bool, gates=()
) -> list[dict]:
  """results.csv and results.md in the sweep workdir (process 0), members ranked by rank_by
  (those passing every gate first)."""
  rows, reference = results_rows(plan, workdir, rank_by, higher_is_better, gates)
  if not distributed.is_primary():
    return rows
  swept = set(plan.swept_fields())
  first = ['rank', 'member', rank_by, *(['gates'] if gates else [])]
  columns = list(
    dict.fromkeys(first + [k for row in rows for k in row if k != 'workdir'] + ['workdir'])
  )

  def write_csv(tmp):
    with open(tmp, 'w', newline='') as f:
      writer = csv.DictWriter(f, fieldnames=columns)
      writer.writeheader()
      for row in rows:
        writer.writerow({k: cell(row.get(k, ''), exact=k in swept) for k in columns})

  files.atomic_write(os.path.join(workdir, plan_lib.RESULTS_CSV), write_csv)
  md_columns = [c for c in columns if c != 'workdir']
  lines = [
    f'# Sweep results, ranked by {rank_by} ({"higher" if higher_is_better else "lower"} is better)',
    '',
    *(
      [
        'Members that pass every gate ('
        + ', '.join(f'`{g}`' for g in gates)
        + ') are ranked first; the gates column says by how much the others fail.',
        '',
      ]
      if gates
      else []
    ),
    "Evaluation metrics compare with validation images, never the test split: Parzen's "
    'σ is chosen on the first 1,000 validation images and scored on the rest. Report the '
    "chosen member's test number with `python -m experiments.evaluate "
    '--workdir=<member>`.',
    '',
    '| ' + ' | '.join(md_columns) + ' |',
    '|' + '---|' * len(md_columns),
  ]
  lines += [
    '| ' + ' | '.join(cell(row.get(c, ''), exact=c in swept) for c in md_columns) + ' |'
    for row in rows
  ]
  if reference:
    lines += [
      '',
      'Reference row, the same metrics on real training images in place of '
      'samples: ' + ', '.join(f'{k} {cell(v)}' for k, v in reference.items()),
    ]
  lines += [
    '',
    f'Member workdirs are under {os.path.abspath(workdir)}/<member>; '
    f'`python -m experiments.sample --workdir=<that>` samples one.',
  ]
  files.write_text(os.path.join(workdir, plan_lib.RESULTS_MD), '\n'.join(lines) + '\n')
  return rows


def cell(value, *, exact: bool = False) -> str:
  """A value as a table cell: floats to 6 significant digits (`exact`: as given, for the swept
  flags: lr_decay 1.000004 is not 1), lists comma-separated."""
  if isinstance(value, float) and exact:
    return repr(value)
  if isinstance(value, float):
    return f'{value:.6g}'
  if isinstance(value, (list, tuple)):
    return ','.join(map(str, value))
  return str(value)
