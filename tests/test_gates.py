"""Gates: a metric held to a bound before anything may rank by Parzen, and the sweep's ranking
that applies them."""

import pytest

from experiments.sweep import ranking
from gan_jax.base.config import Config
from gan_jax.base.errors import ConfigError, UserError
from gan_jax.evaluation import gates
from gan_jax.sweep import plan as plan_lib

GATES = 'frechet_distance<=16.5, precision>=0.72,nn_median_l2>=real_data'


def test_parse_reads_numbers_and_the_reference():
  assert gates.parse(GATES) == (
    gates.Gate('frechet_distance', '<=', 16.5),
    gates.Gate('precision', '>=', 0.72),
    gates.Gate('nn_median_l2', '>=', 'real_data'),
  )
  assert gates.parse('') == ()
  assert str(gates.parse('recall>=0.69')[0]) == 'recall>=0.69'


@pytest.mark.parametrize(
  'text, message',
  [
    ('frechet_distance<16', "'frechet_distance<16' is not metric<=bound"),
    ('precision>=high', 'the bound must be a finite number or real_data'),
    ('recall>=nan', 'the bound must be a finite number or real_data'),
    ('>=3', "'>=3' is not metric<=bound"),
  ],
)
def test_a_malformed_gate_is_one_line(text, message):
  with pytest.raises(UserError, match=message.replace('(', r'\(')):
    gates.parse(text)


def test_check_names_each_failing_gate_with_its_margin():
  parsed = gates.parse(GATES)
  reference = {'nn_median_l2': 4.38}
  good = {'frechet_distance': 12.0, 'precision': 0.8, 'nn_median_l2': 4.5}
  assert gates.check(parsed, good, reference) == []
  # Exactly at the bound holds.
  edge = {'frechet_distance': 16.5, 'precision': 0.72, 'nn_median_l2': 4.38}
  assert gates.check(parsed, edge, reference) == []
  bad = {'frechet_distance': 32.5, 'precision': 0.82, 'nn_median_l2': 3.74}
  assert gates.check(parsed, bad, reference) == [
    'frechet_distance 32.5 is 16 above 16.5',
    'nn_median_l2 3.74 is 0.64 below 4.38',
  ]
  assert gates.check(parsed, {'precision': 0.9}, {}) == [
    'frechet_distance: not measured',
    'nn_median_l2: no reference value to compare with',
  ]


def _plan(tmp_path, evals):
  members = []
  for name, scalars in evals.items():
    members.append(plan_lib.Member(name, {'seed': len(members)}, Config(seed=len(members))))
    if scalars is not None:
      (tmp_path / name).mkdir()
      ranking.record_eval(str(tmp_path / name), 100, 'full', scalars)
  return plan_lib.Plan(Config(), (plan_lib.Group('g', tuple(members)),))


def test_members_that_fail_a_gate_rank_after_those_that_pass(tmp_path):
  real = {'real_data/nn_median_l2': 4.38}
  plan = _plan(
    tmp_path,
    {
      # The blurred prototype: the best Parzen number, but it fails two gates.
      'blurred': {
        'parzen_ll': 313.0,
        'frechet_distance': 30.0,
        'precision': 0.9,
        'nn_median_l2': 3.7,
        **real,
      },
      'sharp': {
        'parzen_ll': 230.0,
        'frechet_distance': 12.0,
        'precision': 0.75,
        'nn_median_l2': 4.5,
        **real,
      },
      'sharper': {
        'parzen_ll': 226.0,
        'frechet_distance': 10.0,
        'precision': 0.8,
        'nn_median_l2': 4.6,
        **real,
      },
      'untrained': None,
    },
  )
  rows, reference = ranking.results_rows(plan, str(tmp_path), 'parzen_ll', True, gates.parse(GATES))
  assert [(r['member'], r['rank']) for r in rows] == [
    ('sharp', 1),
    ('sharper', 2),
    ('blurred', 3),
    ('untrained', ''),
  ]
  assert rows[0]['gates'] == rows[1]['gates'] == 'pass'
  assert rows[2]['gates'] == (
    'frechet_distance 30 is 13.5 above 16.5; nn_median_l2 3.7 is 0.68 below 4.38'
  )
  assert reference == {'nn_median_l2': 4.38}
  # Without gates, Parzen alone picks the blurred one.
  rows, _ = ranking.results_rows(plan, str(tmp_path), 'parzen_ll', True)
  assert rows[0]['member'] == 'blurred' and 'gates' not in rows[0]


def test_gates_ask_for_the_evaluation_they_need():
  assert ranking.resolve_eval_mode('auto', 'parzen_ll', ranking.parse_gates(GATES)) == 'full'
  assert ranking.resolve_eval_mode('auto', 'parzen_ll', ranking.parse_gates('parzen_se<=3')) == (
    'parzen'
  )
  with pytest.raises(ConfigError, match='--gates=frechet_distance<=16.5,.* needs --eval=full'):
    ranking.resolve_eval_mode('parzen', 'parzen_ll', ranking.parse_gates(GATES))
  with pytest.raises(ConfigError, match='d_loss is not an evaluation metric'):
    ranking.parse_gates('d_loss<=1')


def test_swept_numbers_are_shown_as_given():
  assert ranking.cell(1.000004, exact=True) == '1.000004'
  assert ranking.cell(1.000004) == '1'  # a metric: 6 significant digits
  assert ranking.cell(155.18100023) == '155.181'
