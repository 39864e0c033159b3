"""The experiment config: JSON round-trip, flags, validation (examples and property-based)."""

import dataclasses
import json
import os

import pytest
from absl import flags as absl_flags
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments import config_flags
from experiments.config_flags import config_from_args
from gan_jax.base import config as config_lib
from gan_jax.base.config import CHECKPOINT_FIELDS, Config
from gan_jax.base.errors import ConfigError
from tests.helpers import TEST_FLAGS, make_test_config, run_module

FIELDS = {f.name: f for f in dataclasses.fields(Config)}


# The original MNIST recipe, written from goodfeli/adversarial's mnist.yaml (and its
# __init__.py where the yaml leaves a default): each value with its field.
MNIST_YAML = {
  'noise_dim': 100,  # generator: mlp: nvis: 100
  'noise_prior': 'uniform',  # generator: Generator: noise: 'uniform'
  'g_hidden': (1200, 1200),  # generator: h0, h1: dim: 1200
  'g_activation': 'relu',  # generator: h0, h1: RectifiedLinear
  'g_init_scale': 0.05,  # generator: h0, h1, y: irange: .05
  'g_output_bias': 'marginals',  # generator: y: init_bias: init_sigmoid_bias_from_marginals
  'd_units': (240, 240),  # discriminator: h0, h1: Maxout: num_units: 240
  'd_pieces': 5,  # discriminator: h0, h1: num_pieces: 5
  'd_init_scale': 0.005,  # discriminator: h0, h1, y: irange: .005
  # cost: AdversaryCost2: discriminator_input_include_probs: {'h0': .8},
  # discriminator_default_input_include_prob: .5 (the inputs of h0, h1 and y)
  'd_keep_probs': (0.8, 0.5, 0.5),
  'g_loss': 'non_saturating',  # __init__.py AdversaryCost2: g_obj = cost(y1, y_hat0)
  'update': 'simultaneous',  # __init__.py AdversaryCost2.get_gradients: D's and G's gradients
  'd_steps': 1,  # cost: AdversaryCost2 sets no alternate_g (False): a G step every step
  'optimizer': 'sgd_momentum',  # algorithm: SGD, learning_rule: Momentum
  'batch_size': 100,  # algorithm: SGD: batch_size: 100
  'learning_rate': 0.1,  # algorithm: SGD: learning_rate: .1
  'momentum': 0.5,  # learning_rule: Momentum: init_momentum: .5
  'lr_decay': 1.000004,  # update_callbacks: ExponentialDecay: decay_factor: 1.000004
  'min_learning_rate': 1e-6,  # update_callbacks: ExponentialDecay: min_lr: .000001
  'final_momentum': 0.7,  # extensions: MomentumAdjustor: final_momentum: .7
  'momentum_saturate_epoch': 250,  # extensions: MomentumAdjustor: saturate: 250
}


def test_defaults_are_the_original_mnist_recipe():
  c = Config()
  assert {k: getattr(c, k) for k in MNIST_YAML} == MNIST_YAML


@pytest.mark.parametrize(
  'flagfile, dataset',
  [('mnist_paper.flags', 'mnist'), ('fashion_mnist_paper.flags', 'fashion_mnist')],
)
def test_paper_flagfiles_are_the_original_mnist_recipe(flagfile, dataset):
  from gan_jax.data import builders
  from tests.helpers import ROOT

  config = config_from_args([f'--flagfile={ROOT}/experiments/configs/{flagfile}'])
  assert {k: getattr(config, k) for k in MNIST_YAML} == MNIST_YAML
  assert config.dataset == dataset and config.model == 'mnist_mlp'
  assert config.resolved_preprocessing == 'pixels'
  assert builders.NUM_TRAIN[dataset] == 50_000  # dataset: MNIST: start: 0, stop: 50000


def test_json_round_trip_is_exact():
  config = make_test_config('--seed=7', '--d_keep_probs=1,0.5,0.25')
  text = config.to_json()
  assert Config.from_json(text) == config
  assert json.loads(text)['d_keep_probs'] == [1.0, 0.5, 0.25]


def test_unknown_or_mistyped_json_fields_are_errors():
  with pytest.raises(ConfigError, match="unknown config field.*'nois_dim'"):
    Config.from_dict({'nois_dim': 3})
  with pytest.raises(ConfigError, match='--noise_dim must be a int'):
    Config.from_dict({'noise_dim': 'ten'})
  with pytest.raises(ConfigError, match='not valid JSON'):
    Config.from_json('{')


@pytest.mark.parametrize(
  'args, message',
  [
    (['--batch_size=0'], '--batch_size must be positive, got 0'),
    (['--learning_rate=nan'], '--learning_rate=nan is not a finite number'),
    (['--d_keep_probs=0.5,0.5'], '--d_keep_probs needs 3 values'),
    (['--d_keep_probs=0.8,0,0.5'], '--d_keep_probs must be in (0, 1]'),
    (['--momentum=1.0'], '--momentum must be in [0, 1)'),
    (['--lr_decay=0.9'], '--lr_decay must be >= 1'),
    (['--d_steps=5'], '--d_steps=5 needs --update=alternating'),
    (['--g_hidden=a,b'], '--g_hidden must be a comma-separated list of ints'),
    (['--eval_every=-1'], '--eval_every must be >= 0'),
  ],
)
def test_validation_names_the_flag_and_the_value(args, message):
  with pytest.raises(ConfigError) as e:
    config_from_args(args)
  assert message in str(e.value) and '\n' not in str(e.value)


def test_every_field_is_a_flag_listed_by_helpfull():
  result = run_module('experiments.train', '--helpfull')
  for name, f in FIELDS.items():
    assert f'--{name}' in result.stdout, name
  assert "(default: '100')" in result.stdout or "(default: '100'" in result.stdout
  for common in (
    'dataset',
    'data_dir',
    'workdir',
    'num_steps',
    'batch_size',
    'learning_rate',
    'noise_dim',
    'seed',
  ):
    assert f'--{common}' in result.stdout


def test_every_field_declares_its_role():
  assert {f.metadata['role'] for f in FIELDS.values()} <= set(config_lib.ROLES)


def test_the_field_lists_are_read_from_the_roles():
  """What a checkpoint is of (shapes and numbers) and what a population's members may differ
  in (numbers), as their definitions say; the schedule and the paths are neither."""
  assert set(CHECKPOINT_FIELDS) == {
    n for n, f in FIELDS.items() if f.metadata['role'] in (config_lib.SHAPE, config_lib.NUMERIC)
  }
  assert set(config_lib.NUMERIC_FIELDS) < set(CHECKPOINT_FIELDS)
  # The population shares every number the optimisers and the average keep in their states.
  assert set(config_lib.NUMERIC_FIELDS) == {
    'seed',
    'learning_rate',
    'd_learning_rate',
    'lr_decay',
    'min_learning_rate',
    'momentum',
    'final_momentum',
    'momentum_saturate_epoch',
    'adam_b1',
    'adam_b2',
    'g_ema_decay',
    'g_ema_warmup',
  }
  for name in ('num_steps', 'log_every', 'data_dir', 'manual_dir', 'steps_per_call'):
    assert name not in CHECKPOINT_FIELDS, name
  # The population's own list is the derived one, not a copy.
  from gan_jax.loop import population

  assert population.NUMERIC_FIELDS is config_lib.NUMERIC_FIELDS


@pytest.mark.parametrize(
  'field, value, message',
  [
    ('noise_dim', 0, '--noise_dim must be positive, got 0'),
    ('d_learning_rate', -0.1, '--d_learning_rate must be >= 0, got -0.1'),
    ('lr_decay', 0.5, '--lr_decay must be >= 1 (1 disables decay), got 0.5'),
    ('adam_b2', 1.0, '--adam_b2 must be in [0, 1), got 1.0'),
    ('g_ema_warmup', 2e9, '--g_ema_warmup must be in [1, 1e+09] (1: no warm-up), got 2000000000.0'),
    ('rollback_lr_factor', 1.0, '--rollback_lr_factor must be in (0, 1), got 1.0'),
    ('d_units', (240, 0), '--d_units must hold positive widths, got [240, 0]'),
    ('g_hidden', (), '--g_hidden must hold positive widths, got []'),  # none is no width
    ('d_keep_probs', (0.8, 1.5, 0.5), '--d_keep_probs must be in (0, 1], got [0.8, 1.5, 0.5]'),
    ('seed', -1, '--seed must be >= 0, got -1'),
    ('seed', 2**32, '--seed=4294967296 is above 4294967295; JAX keeps only 32 bits'),
    ('seed', 2**31, None),  # a seed is 32 bits unsigned, not int32
    ('num_steps', 2**31, '--num_steps=2147483648 is beyond 2147483647'),
    ('learning_rate', 1e39, '--learning_rate=1e+39 overflows float32'),
    ('d_keep_probs', (0.8, float('nan'), 0.5), '--d_keep_probs=0.8,nan,0.5 holds a number that'),
    ('data_dir', 'a\nb', "--data_dir='a\\nb' holds the control character"),
  ],
)
def test_each_field_is_checked_against_its_range_at_construction(field, value, message):
  if message is None:
    assert getattr(Config(**{field: value}), field) == value
    return
  with pytest.raises(ConfigError) as e:
    Config(**{field: value})
  assert message in str(e.value) and '\n' not in str(e.value)


def test_an_invalid_config_cannot_be_made_by_replace_or_from_json():
  config = Config()
  with pytest.raises(ConfigError, match='--batch_size must be positive'):
    config.replace(batch_size=0)
  with pytest.raises(ConfigError, match='--momentum must be in'):
    Config.from_dict({'momentum': 1.5})


def test_the_model_table_decides_what_a_config_may_pair():
  for name, facts in config_lib.MODELS.items():
    config = Config(model=name, dataset=facts.datasets[-1])
    assert config.resolved_preprocessing == facts.preprocessing
  # The original cifar10 configs contrast-normalise (pylearn2 `gcn: 55.`); mnist.yaml does not.
  assert [f.preprocessing for f in config_lib.MODELS.values()] == [
    'pixels',
    'gcn',
    'gcn',
    'pixels',
    'pixels',
  ]
  assert config_lib.MLP_SHAPE_FIELDS == (
    'g_hidden',
    'g_activation',
    'g_init_scale',
    'd_units',
    'd_pieces',
    'd_init_scale',
    'd_keep_probs',
  )


def test_d_rate_else_g_rate():
  assert Config(learning_rate=0.1).discriminator_learning_rate == 0.1
  assert Config(learning_rate=0.1, d_learning_rate=0.02).discriminator_learning_rate == 0.02


# Property: any value for any flag gives a valid Config or a one-line ConfigError, never
# another exception (and validation is a pure function: it cannot hang).
_values = st.one_of(
  st.text(max_size=12),
  st.integers(-(10**12), 10**12).map(str),
  st.floats(allow_nan=True, allow_infinity=True).map(repr),
  st.lists(st.integers(-5, 5000), max_size=4).map(lambda v: ','.join(map(str, v))),
  st.lists(st.floats(-2, 2), max_size=4).map(lambda v: ','.join(map(repr, v))),
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(FIELDS)), value=_values)
def test_any_flag_value_gives_a_config_or_a_config_error(name, value):
  try:
    config = config_from_args([f'--{name}={value}'])
  except ConfigError as e:
    assert str(e) and '\n' not in str(e)
  else:
    assert Config.from_json(config.to_json()) == config


# ------------------------------------------------------------------ flags from any config class


def _flag(default, help_text, choices=None):
  return dataclasses.field(default=default, metadata={'help': help_text, 'choices': choices})


@dataclasses.dataclass(frozen=True)
class _Small:
  """A config class of every flag type the generator supports."""

  name: str = _flag('a', 'A choice.', choices=('a', 'b'))
  count: int = _flag(2, 'An integer.')
  rate: float = _flag(0.5, 'A float.')
  on: bool = _flag(True, 'A switch.')
  widths: tuple = _flag((1, 2), 'A list of ints.')
  path: str = _flag('', 'A string.')

  def __post_init__(self):
    if self.count < 0:
      raise ConfigError(f'--count must be >= 0, got {self.count}')


def test_flags_are_generated_from_any_config_dataclass():
  values = absl_flags.FlagValues()
  config_flags.define_flags(_Small, values)
  assert [values[n].flag_type() for n in ('name', 'count', 'rate', 'on', 'widths', 'path')] == [
    'string enum',
    'int',
    'float',
    'bool',
    'comma separated list of strings',
    'string',
  ]
  assert values['rate'].help == 'A float.'
  config_flags.define_flags(_Small, values)  # idempotent
  assert config_flags.from_args(_Small, []) == _Small()
  assert config_flags.from_args(
    _Small, ['--name=b', '--count=7', '--rate=2', '--noon', '--widths=4,5,6', '--path=x']
  ) == _Small(name='b', count=7, rate=2.0, on=False, widths=(4, 5, 6), path='x')


@pytest.mark.parametrize(
  'args, message',
  [
    (['--count=-1'], '--count must be >= 0, got -1'),  # the class's __post_init__
    (['--widths=1,x'], '--widths must be a comma-separated list of ints'),
    (['--name=c'], 'flag --name=c'),  # absl's enum check
  ],
)
def test_generated_flags_report_a_bad_value_in_one_line(args, message):
  with pytest.raises(ConfigError) as e:
    config_flags.from_args(_Small, args)
  assert message in str(e.value) and '\n' not in str(e.value)


def test_a_field_without_help_is_not_made_a_flag():
  @dataclasses.dataclass(frozen=True)
  class Bare:
    count: int = 1

  with pytest.raises(TypeError, match='Bare.count needs a default and metadata'):
    config_flags.define_flags(Bare, absl_flags.FlagValues())


def test_the_config_api_is_the_generic_one_on_config():
  args = ['--seed=3', '--g_hidden=8,4', '--update=alternating', '--d_steps=2']
  assert config_from_args(args) == config_flags.from_args(Config, args)
  assert config_from_args(args) == Config(seed=3, g_hidden=(8, 4), update='alternating', d_steps=2)


def test_the_fast_recipe_changes_only_what_its_header_says():
  """mnist_fast.flags keeps the paper's networks, data, game and batch; each number it changes
  is named, with its value, in its header."""
  configs = os.path.dirname(TEST_FLAGS)
  fast = config_from_args([f'--flagfile={os.path.join(configs, "mnist_fast.flags")}'])
  paper = config_from_args([f'--flagfile={os.path.join(configs, "mnist_paper.flags")}'])
  schedule = {'num_steps', 'checkpoint_every', 'sample_every', 'log_every', 'eval_every'}
  changed = set(paper.diff(fast, tuple(paper.to_dict()))) - schedule
  assert changed == {'momentum', 'lr_decay', 'g_ema_decay'}
  with open(os.path.join(configs, 'mnist_fast.flags')) as f:
    header = ''.join(line for line in f if line.startswith('#'))
  for name in changed:
    assert f'--{name}={getattr(fast, name):g}' in header, name
