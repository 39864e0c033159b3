"""What every section reads and how it prints numbers: a run's logged curves, its
evaluations, and the page's number formats."""

import json
import math

import numpy as np

from gan_jax.runtime import writers

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


def read_json(path: str):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def curve(workdir: str, key: str = 'eval/parzen_ll') -> tuple[np.ndarray, np.ndarray]:
  """(steps, values) of an evaluated metric along a run."""
  rows = [r for r in writers.read_metrics(workdir) if key in r]
  return (
    np.array([r['step'] for r in rows], np.int64),
    np.array([r[key] for r in rows], np.float64),
  )


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


def own_g(workdir: str) -> str:
  """The prefix of the evaluations of the G a run trains: 'eval_raw' where the run also keeps
  an average of G (its 'eval' rows are the average's), else 'eval'."""
  rows = writers.read_metrics(workdir)
  return 'eval_raw' if any('eval_raw/parzen_ll' in r for r in rows) else 'eval'


def eval_row(workdir: str, step: int, prefix: str | None = None) -> dict | None:
  """Every logged evaluation metric at `step` of the run's own G (or of `prefix`'s), or None."""
  prefix = prefix or own_g(workdir)
  for r in writers.read_metrics(workdir):
    if r['step'] == step and f'{prefix}/parzen_ll' in r:
      return {
        k.split('/', 1)[1]: v
        for k, v in r.items()
        if k.startswith(f'{prefix}/') and not k.startswith(f'{prefix}/real_data/')
      }
  return None


def mean_sd(values) -> str:
  """'mean ± sd' (sd with ddof 1, printed to the mean's decimals), or one value alone."""
  values = [v for v in values if v is not None and math.isfinite(v)]
  if not values:
    return 'n/a'
  mean = fmt(np.mean(values))
  if len(values) == 1:
    return mean
  sd = np.std(values, ddof=1)
  if 'e' in mean:
    return f'{mean} ± {sd:.2e}'
  decimals = len(mean.split('.')[1]) if '.' in mean else 0
  return f'{mean} ± {sd:.{decimals}f}'


def fmt(value) -> str:
  if value is None:
    return 'n/a'
  if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
    return f'{value:,}'
  value = float(value)
  if abs(value) >= 100:
    return f'{value:.1f}'
  if abs(value) >= 1:
    return f'{value:.2f}'
  if abs(value) >= 0.01 or value == 0:
    return f'{value:.3f}'
  return f'{value:.2e}'


def duration(seconds: float) -> str:
  seconds = int(round(seconds))
  return (
    f'{seconds // 3600}h{seconds // 60 % 60:02d}m'
    if seconds >= 3600
    else (f'{seconds // 60}m{seconds % 60:02d}s')
  )


def nn(test: dict, which: str) -> float | None:
  """Median L2 distance to the nearest training image of the samples or the test images."""
  return test.get('memorisation', {}).get(f'{which}_median_l2')


def steps_of(runs) -> str:
  steps = sorted({r.num_steps for r in runs})
  return ' / '.join(f'{s:,}' for s in steps) or 'n/a'


def metric(result: dict, key: str):
  if key == 'parzen_ll':
    return result['parzen']['ll']
  if key == 'kid':
    return result['kid']['mean']
  return result.get(key)
