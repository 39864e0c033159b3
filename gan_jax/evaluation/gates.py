"""Gates: conditions a model must meet before its Parzen number (or any metric) may rank it.

The Parzen estimate rewards blurred prototypes (Theis et al. 2016: k-means centroids score 313 on
MNIST, real data 243), so a search that ranks by it alone selects blur. A gate holds a metric to a
bound: a number, or the reference row's value of the same metric (`real_data`), so that
`nn_median_l2>=real_data` reads "samples sit no closer to their nearest training images than
held-out real images do".

  gates = parse('frechet_distance<=16.5,precision>=0.72,recall>=0.69,nn_median_l2>=real_data')
  failed = check(gates, scalars, reference)   # [] when every gate holds
"""

import dataclasses
import math
import re

from gan_jax.base.errors import UserError

REFERENCE = 'real_data'
_GATE = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*(\S+)\s*$')


@dataclasses.dataclass(frozen=True)
class Gate:
  """metric <= bound or metric >= bound; bound is a number or REFERENCE."""

  metric: str
  op: str  # '<=' or '>='
  bound: float | str

  def __str__(self) -> str:
    bound = self.bound if isinstance(self.bound, str) else f'{self.bound:g}'
    return f'{self.metric}{self.op}{bound}'

  def failure(self, scalars: dict, reference: dict | None = None) -> str | None:
    """None when the gate holds for `scalars`; else why not, with the margin.

    Args:
      scalars: the model's metrics, {name: value}.
      reference: the reference row's metrics (real data in place of samples), for a bound of
        REFERENCE.
    """
    bound = self.bound
    if bound == REFERENCE:
      bound = (reference or {}).get(self.metric)
      if not _is_number(bound):
        return f'{self.metric}: no reference value to compare with'
    value = scalars.get(self.metric)
    if not _is_number(value):
      return f'{self.metric}: not measured'
    holds = value <= bound if self.op == '<=' else value >= bound
    if holds:
      return None
    word = 'above' if self.op == '<=' else 'below'
    return f'{self.metric} {value:.4g} is {abs(value - bound):.3g} {word} {bound:.4g}'


def parse(text: str) -> tuple[Gate, ...]:
  """Gates from 'metric<=number,metric>=real_data,...' (empty: none).

  Raises:
    UserError: a part that is not `metric<=bound` or `metric>=bound`, naming it.
  """
  gates = []
  for part in filter(str.strip, text.split(',')):
    match = _GATE.match(part)
    if not match:
      raise UserError(
        f'gate {part.strip()!r} is not metric<=bound or metric>=bound (bound: a number or '
        f'{REFERENCE}); e.g. frechet_distance<=16.5,nn_median_l2>=real_data'
      )
    metric, op, bound = match.groups()
    if bound != REFERENCE:
      try:
        bound = float(bound)
      except ValueError:
        bound = None
      if bound is None or not math.isfinite(bound):
        raise UserError(
          f'gate {part.strip()!r}: the bound must be a finite number or {REFERENCE}'
        ) from None
    gates.append(Gate(metric, op, bound))
  return tuple(gates)


def check(gates, scalars: dict, reference: dict | None = None) -> list[str]:
  """Why each failing gate fails (empty: all hold)."""
  return [why for gate in gates if (why := gate.failure(scalars, reference)) is not None]


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
