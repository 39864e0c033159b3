"""One typed, frozen description of an experiment, validated once and saved as JSON.

Every field is also a command-line flag (the entry points generate their flags from this
class), with the field's `help` metadata as its help text, so `--helpfull` lists them all with
defaults.
"""

import dataclasses
import json
import math
import unicodedata
from typing import Any

from gan_jax.base.errors import ConfigError

DATASETS = ('mnist_5k', 'fashion_mnist', 'mnist', 'cifar10')
# The registered models (gan_jax.game.models) and what --preprocessing=default means for each:
# the cifar10 configs of the original code contrast-normalise (pylearn2 `gcn: 55.`).
MODELS = ('mnist_mlp', 'cifar10_fc', 'cifar10_conv', 'mnist_cgan', 'mnist_mlp_cgan')
DEFAULT_PREPROCESSING = {
  'mnist_mlp': 'pixels',
  'cifar10_fc': 'gcn',
  'cifar10_conv': 'gcn',
  'mnist_cgan': 'pixels',
  'mnist_mlp_cgan': 'pixels',
}
# Models whose layers the shape flags below set (the others' are fixed by their modules), and
# those with a sigmoid output (pixels in [0, 1], which GCN'd data is not).
SHAPED_BY_FLAGS = ('mnist_mlp', 'mnist_mlp_cgan')
SIGMOID_MODELS = ('mnist_mlp', 'mnist_cgan', 'mnist_mlp_cgan')
# Models whose layers are fixed by their original config take only that config's data set.
MODEL_DATASETS = {'cifar10_fc': ('cifar10',), 'cifar10_conv': ('cifar10',)}
# Shape flags of the mnist_mlp nets; the other models' layers are fixed by their modules.
MLP_SHAPE_FIELDS = (
  'g_hidden',
  'g_activation',
  'g_init_scale',
  'd_units',
  'd_pieces',
  'd_init_scale',
  'd_keep_probs',
)
# jax.random.PRNGKey keeps the low 32 bits of a seed (without x64): larger seeds would collide
# with smaller ones, and past 2**63 it raises.
MAX_SEED = 2**32 - 1
# The average's warm-up is held in float32 beside the step count: a larger w is no warm-up ever
# ending within any run.
MAX_EMA_WARMUP = 1e9
# Counts, sizes and steps become int32 on the devices (the step counter, shapes, loop bounds).
MAX_INT32 = 2**31 - 1


def check_int32(flag: str, value: int) -> None:
  if abs(value) > MAX_INT32:
    raise ConfigError(
      f'{flag}={value} is beyond {MAX_INT32}, the largest count the devices hold (int32); '
      'pass a smaller value'
    )


# Every float of a config ends up in float32 on the devices (learning rates in optax's state,
# init scales in the weights): a value that float32 cannot hold is inf or 0 there.
FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.401298464324817e-45  # the smallest positive (subnormal) float32


def check_float32(flag: str, value: float) -> None:
  """A finite float the devices can hold: beyond float32 it is inf (or 0) in the first step,
  which a float64 check at entry does not see."""
  if abs(value) > FLOAT32_MAX:
    raise ConfigError(
      f'{flag}={value} overflows float32 (at most {FLOAT32_MAX:.4g} in magnitude), in which '
      'the devices compute; pass a smaller value'
    )
  if value != 0 and abs(value) < FLOAT32_TINY:
    raise ConfigError(
      f'{flag}={value} is 0 in float32 (at least {FLOAT32_TINY:.4g} in magnitude), in which '
      'the devices compute; pass a larger value or 0'
    )


def control_character(text: str) -> str | None:
  """The first control character (newline, ESC, NUL, ...) in `text`, or None."""
  return next((c for c in text if unicodedata.category(c) == 'Cc'), None)


def check_text(flag: str, value: str, fix: str = 'retype it') -> None:
  """A value that is written into flag files and shell commands: no control characters.

  A newline splits a line of commands.sh or base.flags in two, ESC rewrites the terminal that
  prints it, NUL ends the string at the operating system.
  """
  char = control_character(value)
  if char is not None:
    raise ConfigError(f'{flag}={value!r} holds the control character {char!r}; {fix}')


def check_path(flag: str, value: str) -> None:
  """A path flag as given: not empty or blank, no control characters, valid UTF-8, no blank
  ends (a flagfile line loses them).

  Python keeps the bytes of a non-UTF-8 name as surrogates; orbax and TensorBoard cannot encode
  them and fail at the first write, long after the run started.
  """
  if not value.strip():
    raise ConfigError(
      f'{flag} is {"empty" if not value else f"only blanks ({value!r})"} (an unset shell '
      'variable?); pass a path'
    )
  check_text(flag, value, 'rename it or pick another path')
  try:
    value.encode('utf-8')
  except UnicodeEncodeError as e:
    shown = value.encode('utf-8', 'surrogateescape').decode('utf-8', 'backslashreplace')
    byte = ord(value[e.start]) - 0xDC00  # how Python keeps an undecodable byte of a name
    raise ConfigError(
      f'{flag}={shown} is not valid UTF-8 (byte 0x{byte & 0xFF:02x}); rename it or pick a '
      'path of UTF-8 characters'
    ) from None
  if value != value.strip():
    raise ConfigError(
      f'{flag}={value!r} begins or ends with blanks (a quoting mistake?); remove them'
    )


def _field(default, help_text, *, choices=None, group='model'):
  metadata = {'help': help_text, 'choices': choices, 'group': group}
  if isinstance(default, (list, tuple)):
    return dataclasses.field(default=tuple(default), metadata=metadata)
  return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Config:
  """An experiment. Defaults are the original code's MNIST recipe (goodfeli/adversarial
  mnist.yaml)."""

  # Data.
  dataset: str = _field('mnist_5k', 'Data set to train on.', choices=DATASETS, group='data')
  data_dir: str = _field(
    '',
    'TFDS data directory where prepared data sets live '
    '(empty: TFDS default, $TFDS_DATA_DIR or ~/tensorflow_datasets).',
    group='data',
  )
  manual_dir: str = _field(
    '',
    'Directory holding the raw source files (the four idx files of '
    "mnist/fashion_mnist, or cifar-10-batches-bin). Empty: Debian's path "
    'for fashion_mnist, else <data_dir>/downloads/manual/<dataset>.',
    group='data',
  )

  preprocessing: str = _field(
    'default',
    'What the networks see of a pixel: pixels (uint8 / 255, '
    'in [0, 1]), gcn (global contrast normalisation, per image: '
    'subtract its mean, scale to L2 norm 55, as pylearn2 `gcn: 55.`), '
    "or default (the model's original config: gcn for the cifar10 "
    'models, pixels for mnist_mlp).',
    choices=('default', 'pixels', 'gcn'),
    group='data',
  )

  # The networks.
  model: str = _field(
    'mnist_mlp',
    'Generator and discriminator, by name: mnist_mlp (the MNIST '
    'MLPs, shaped by the flags below), cifar10_fc or cifar10_conv (the original '
    "code's CIFAR-10 nets, layers fixed by their configs).",
    choices=MODELS,
  )

  # Generator (mnist_mlp): Dense 1200 ReLU -> Dense 1200 ReLU -> Dense 784 sigmoid.
  noise_dim: int = _field(100, 'Dimension of the noise z.')
  noise_prior: str = _field(
    'uniform',
    'Prior of z: uniform on (-sqrt 3, sqrt 3) (unit variance, the '
    'MNIST config) or normal N(0, 1) (the other configs).',
    choices=('uniform', 'normal'),
  )
  g_hidden: tuple = _field((1200, 1200), "Widths of the generator's hidden layers.")
  g_activation: str = _field(
    'relu',
    "Activation of the generator's hidden layers.",
    choices=('relu', 'sigmoid', 'tanh', 'leaky_relu'),
  )
  g_init_scale: float = _field(0.05, 'Generator weights ~ U(-scale, scale).')
  g_output_bias: str = _field(
    'marginals',
    "Generator output bias: logit of each pixel's training "
    'mean (original code) or zeros. Sigmoid-output models (mnist_mlp) '
    "only: the cifar10 models' linear output starts at 0, as their "
    'configs.',
    choices=('marginals', 'zeros'),
  )

  # Discriminator (mnist_mlp): maxout 240x5 -> maxout 240x5 -> Dense 1 sigmoid.
  d_units: tuple = _field((240, 240), 'Units of each maxout layer of the discriminator.')
  d_pieces: int = _field(5, 'Pieces per maxout unit.')
  d_init_scale: float = _field(0.005, 'Discriminator weights ~ U(-scale, scale).')
  d_keep_probs: tuple = _field(
    (0.8, 0.5, 0.5),
    'Dropout keep probability on the input of each '
    'discriminator layer (pixels, second maxout, output); 1 disables.',
  )

  # The game.
  g_loss: str = _field(
    'non_saturating',
    'Generator loss: -log D(G(z)) (non_saturating, what the '
    'paper and original code train with) or log(1 - D(G(z))) (minimax).',
    choices=('non_saturating', 'minimax'),
    group='training',
  )
  update: str = _field(
    'simultaneous',
    'simultaneous: D and G step from gradients at the same '
    'parameters (original code); alternating: d_steps D steps then one G step '
    '(Algorithm 1).',
    choices=('simultaneous', 'alternating'),
    group='training',
  )
  d_steps: int = _field(
    1, "D steps per G step (the paper's k); only with --update=alternating.", group='training'
  )

  # Optimiser.
  optimizer: str = _field(
    'sgd_momentum',
    'sgd_momentum: the original recipe (v <- mu v - lr g); adam: optax.adam.',
    choices=('sgd_momentum', 'adam'),
    group='optimizer',
  )
  num_steps: int = _field(20000, 'Training iterations (G updates).', group='training')
  batch_size: int = _field(100, 'Global batch size (split over all devices).', group='training')
  learning_rate: float = _field(0.1, 'Initial learning rate of both nets.', group='optimizer')
  d_learning_rate: float = _field(
    0.0,
    'Initial learning rate of the discriminator, if it differs '
    '(0: --learning_rate; the original code uses one rate).',
    group='optimizer',
  )
  lr_decay: float = _field(
    1.000004, 'sgd_momentum: lr_t = learning_rate / lr_decay**t.', group='optimizer'
  )
  min_learning_rate: float = _field(
    1e-6, 'sgd_momentum: floor of the decayed learning rate.', group='optimizer'
  )
  momentum: float = _field(0.5, 'sgd_momentum: momentum at epoch 1.', group='optimizer')
  final_momentum: float = _field(
    0.7, 'sgd_momentum: momentum reached at --momentum_saturate_epoch.', group='optimizer'
  )
  momentum_saturate_epoch: int = _field(
    250, 'sgd_momentum: epoch at which momentum stops rising.', group='optimizer'
  )
  adam_b1: float = _field(0.5, 'adam: beta1.', group='optimizer')
  adam_b2: float = _field(0.999, 'adam: beta2.', group='optimizer')
  g_ema_decay: float = _field(
    0.0,
    "Decay d of an exponential moving average of G's parameters kept beside G (Polyak "
    'averaging; Yazici et al. 2019): avg <- avg + (1 - d_t) (G - avg) after each update. '
    'Sampling, evaluation and figures use the average (evaluation during training reports '
    'the raw G too). 0: no average (the original code).',
    group='optimizer',
  )
  g_ema_warmup: float = _field(
    10.0,
    'Warm-up w of the average: update t (from 0) uses d_t = min(d, (1 + t) / (w + t)), so '
    'early parameters do not linger in it; 1: d from the first update (no warm-up).',
    group='optimizer',
  )
  seed: int = _field(0, 'Seed of parameters, noise, dropout and data order.', group='training')

  # Loop.
  steps_per_call: int = _field(
    100, 'Training steps fused into one compiled call (lax.scan).', group='loop'
  )
  log_every: int = _field(500, 'Log metrics every N steps.', group='loop')
  checkpoint_every: int = _field(5000, 'Checkpoint every N steps (and at the end).', group='loop')
  keep_checkpoints: int = _field(3, 'Keep the last K checkpoints.', group='loop')
  sample_every: int = _field(
    5000,
    'Write a sample grid from a fixed noise batch every N steps (0: only at the end).',
    group='loop',
  )
  num_grid_samples: int = _field(
    100, 'Samples in each grid (a square number fills the grid).', group='loop'
  )
  eval_every: int = _field(
    0, 'Run the evaluation every N steps (0: never during training).', group='loop'
  )
  eval_num_samples: int = _field(10000, 'Generated samples used by the evaluation.', group='loop')
  eval_against: str = _field(
    'validation',
    'What the evaluation during training compares with: '
    'validation images (for choosing a checkpoint; the test split is '
    "never read) or the test split (the paper's reported protocol).",
    choices=('validation', 'test'),
    group='loop',
  )

  on_nonfinite: str = _field(
    'stop',
    'When a loss or parameter becomes NaN/inf: stop (keeping the '
    'last good checkpoint), or rollback to that checkpoint and continue '
    'with the learning rates times --rollback_lr_factor (at most 3 '
    'times).',
    choices=('stop', 'rollback'),
    group='loop',
  )
  rollback_lr_factor: float = _field(
    0.5, 'Learning-rate factor applied at each rollback.', group='loop'
  )

  def replace(self, **changes) -> 'Config':
    return dataclasses.replace(self, **changes)

  def to_dict(self) -> dict[str, Any]:
    return {
      f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
      for f in dataclasses.fields(self)
    }

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> 'Config':
    """Builds a validated Config; unknown keys are an error, missing keys take defaults."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
      raise ConfigError(f'unknown config field(s) {unknown}; valid fields: {sorted(names)}')
    kwargs = {}
    for key, value in values.items():
      default = names[key].default
      if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
          raise ConfigError(f'config field {key!r} must be a list, got {value!r}')
        value = tuple(value)
      kwargs[key] = value
    config = cls(**kwargs)
    config.validate()
    return config

  @classmethod
  def from_json(cls, text: str) -> 'Config':
    try:
      values = json.loads(text)
    except json.JSONDecodeError as e:
      raise ConfigError(f'config is not valid JSON ({e}); fix or delete the file') from None
    if not isinstance(values, dict):
      raise ConfigError('config JSON must be an object of field: value')
    return cls.from_dict(values)

  def validate(self) -> 'Config':
    """Raises ConfigError (one line: the flag, the value, the fix) on the first bad field."""
    for f in dataclasses.fields(self):
      value, default = getattr(self, f.name), f.default
      expected = type(default)
      if isinstance(default, tuple):
        item_type = type(default[0])
        if not value or not all(_is_type(v, item_type) for v in value):
          raise ConfigError(
            f'--{f.name} must be a non-empty list of {item_type.__name__}s, got {value!r}'
          )
      elif not _is_type(value, expected):
        raise ConfigError(f'--{f.name} must be a {expected.__name__}, got {value!r}')
      if expected is float and not math.isfinite(value):
        raise ConfigError(f'--{f.name}={value} is not a finite number; pass a real value')
      for number in value if isinstance(default, tuple) else [value]:
        if isinstance(number, float):
          check_float32(f'--{f.name}', number)
        elif _is_type(number, int) and f.name != 'seed':  # a seed is checked below
          check_int32(f'--{f.name}', number)
      choices = f.metadata.get('choices')
      if choices and value not in choices:
        raise ConfigError(f'--{f.name}={value} is not one of {", ".join(choices)}')
      if expected is str and value:  # paths: written into base.flags and commands.sh
        check_path(f'--{f.name}', value)
    positive = (
      'noise_dim',
      'd_pieces',
      'd_steps',
      'num_steps',
      'batch_size',
      'learning_rate',
      'steps_per_call',
      'log_every',
      'checkpoint_every',
      'keep_checkpoints',
      'num_grid_samples',
      'eval_num_samples',
      'g_init_scale',
      'd_init_scale',
      'min_learning_rate',
      'momentum_saturate_epoch',
    )
    for name in positive:
      value = getattr(self, name)
      if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f'--{name} must be positive, got {value}')
    for name in ('g_hidden', 'd_units'):
      if any(v <= 0 for v in getattr(self, name)):
        raise ConfigError(f'--{name} must hold positive widths, got {list(getattr(self, name))}')
    for name in ('sample_every', 'eval_every', 'seed', 'd_learning_rate'):
      if getattr(self, name) < 0:
        raise ConfigError(f'--{name} must be >= 0, got {getattr(self, name)}')
    if self.seed > MAX_SEED:
      raise ConfigError(
        f'--seed={self.seed} is above {MAX_SEED}; JAX keeps only 32 bits of a '
        'seed, pick a smaller one'
      )
    if len(self.d_keep_probs) != len(self.d_units) + 1:
      raise ConfigError(
        f'--d_keep_probs needs {len(self.d_units) + 1} values (one per '
        f'discriminator layer input), got {list(self.d_keep_probs)}'
      )
    if not all(0 < p <= 1 for p in self.d_keep_probs):
      raise ConfigError(f'--d_keep_probs must be in (0, 1], got {list(self.d_keep_probs)}')
    for name in ('momentum', 'final_momentum', 'adam_b1', 'adam_b2'):
      if not 0 <= getattr(self, name) < 1:
        raise ConfigError(f'--{name} must be in [0, 1), got {getattr(self, name)}')
    if not 0 <= self.g_ema_decay < 1:
      raise ConfigError(f'--g_ema_decay must be in [0, 1) (0: no average), got {self.g_ema_decay}')
    if not 1 <= self.g_ema_warmup <= MAX_EMA_WARMUP:
      raise ConfigError(
        f'--g_ema_warmup must be in [1, {MAX_EMA_WARMUP:g}] (1: no warm-up), got '
        f'{self.g_ema_warmup}'
      )
    if not 0 < self.rollback_lr_factor < 1:
      raise ConfigError(f'--rollback_lr_factor must be in (0, 1), got {self.rollback_lr_factor}')
    if not (self.lr_decay >= 1 and math.isfinite(self.lr_decay)):
      raise ConfigError(f'--lr_decay must be >= 1 (1 disables decay), got {self.lr_decay}')
    if self.update == 'simultaneous' and self.d_steps != 1:
      raise ConfigError(
        f'--d_steps={self.d_steps} needs --update=alternating (simultaneous '
        'updates take one D step per G step)'
      )
    if self.model not in SHAPED_BY_FLAGS:
      defaults = Config()
      changed = self.diff(defaults, MLP_SHAPE_FIELDS)
      if changed:
        raise ConfigError(
          f'--{changed[0]} shapes --model={" or ".join(SHAPED_BY_FLAGS)} only; '
          f"{self.model}'s layers are fixed by its module: drop the flag"
        )
    allowed = MODEL_DATASETS.get(self.model)
    if allowed and self.dataset not in allowed:
      raise ConfigError(
        f'--model={self.model} takes --dataset={" or ".join(allowed)}, got '
        f'--dataset={self.dataset}; pick a matching data set or model'
      )
    if self.model in SIGMOID_MODELS and self.resolved_preprocessing == 'gcn':
      raise ConfigError(
        '--preprocessing=gcn makes real-valued data that the sigmoid output of '
        f'--model={self.model} cannot produce; use --preprocessing=pixels'
      )
    return self

  @property
  def resolved_preprocessing(self) -> str:
    """'pixels' or 'gcn': --preprocessing, with 'default' resolved by the model."""
    if self.preprocessing == 'default':
      return DEFAULT_PREPROCESSING[self.model]
    return self.preprocessing

  def diff(self, other: 'Config', fields: tuple[str, ...]) -> list[str]:
    """Names of `fields` whose values differ between the two configs."""
    return [name for name in fields if getattr(self, name) != getattr(other, name)]


# Fields that fix the shapes and meaning of a checkpoint: resuming with any of them changed
# would silently train a different experiment.
CHECKPOINT_FIELDS = (
  'dataset',
  'model',
  'preprocessing',
  'noise_dim',
  'noise_prior',
  'g_hidden',
  'g_activation',
  'g_init_scale',
  'g_output_bias',
  'd_units',
  'd_pieces',
  'd_init_scale',
  'd_keep_probs',
  'g_loss',
  'update',
  'd_steps',
  'optimizer',
  'batch_size',
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
  'seed',
)


def _is_type(value, expected) -> bool:
  if expected is float:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
  if expected is int:
    return isinstance(value, int) and not isinstance(value, bool)
  return isinstance(value, expected)
