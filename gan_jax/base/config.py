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


@dataclasses.dataclass(frozen=True)
class ModelFacts:
  """What a config must know of a model to be valid, before any network exists.

  The one table of models is MODELS below; gan_jax.game.models registers each row's networks
  under its name and reads these facts from here (the bottom floor cannot import the networks).
  """

  output: str  # 'sigmoid' (pixels in [0, 1]) or 'linear' (real values)
  preprocessing: str  # what --preprocessing=default means for it: 'pixels' or 'gcn'
  datasets: tuple[str, ...] = DATASETS  # the data sets it takes
  mlp_flags: bool = False  # whether the MLP shape flags (field(mlp=True)) shape its layers


MODELS = {
  'mnist_mlp': ModelFacts(output='sigmoid', preprocessing='pixels', mlp_flags=True),
  # The original code's CIFAR-10 nets: layers fixed by their configs, which contrast-normalise
  # (pylearn2 `gcn: 55.`), for the one data set they were written for.
  'cifar10_fc': ModelFacts(output='linear', preprocessing='gcn', datasets=('cifar10',)),
  'cifar10_conv': ModelFacts(output='linear', preprocessing='gcn', datasets=('cifar10',)),
  # The paper's section 7 extension, conditioned on the class: Mirza & Osindero's nets (layers
  # fixed by their module), and the paper's MNIST nets with y concatenated to their inputs.
  'mnist_cgan': ModelFacts(output='sigmoid', preprocessing='pixels'),
  'mnist_mlp_cgan': ModelFacts(output='sigmoid', preprocessing='pixels', mlp_flags=True),
}
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


# A field's role: what it is to the experiment, declared where the field is defined. The lists
# the rest of the library needs (CHECKPOINT_FIELDS, NUMERIC_FIELDS) are read from the roles.
SHAPE = 'shape'  # fixes the networks, the data or the traced program: what a checkpoint is of
NUMERIC = 'numeric'  # a number the training state holds: a population's members may differ in it
SCHEDULE = 'schedule'  # how long and how often the loop works, and what it does on failure
PATH = 'path'  # where data live: checked as a path, no part of the experiment
ROLES = (SHAPE, NUMERIC, SCHEDULE, PATH)


@dataclasses.dataclass(frozen=True)
class Range:
  """Where a number, or each number of a list, must lie: from `low` to `high`, either end open
  or absent.

  `note` says what an end means ('1: no warm-up'); `unit` names a list's items ('widths').
  """

  low: float | None = None
  high: float | None = None
  open_low: bool = False
  open_high: bool = False
  note: str = ''
  unit: str = ''

  def __contains__(self, value) -> bool:
    if self.low is not None and (value <= self.low if self.open_low else value < self.low):
      return False
    return self.high is None or (value < self.high if self.open_high else value <= self.high)

  def __str__(self) -> str:
    if self.high is None:
      if self.low == 0 and self.open_low:
        return 'positive'
      return f'{">" if self.open_low else ">="} {_bound(self.low)}'
    return (
      f'in {"(" if self.open_low else "["}{_bound(self.low)}, {_bound(self.high)}'
      f'{")" if self.open_high else "]"}'
    )

  def check(self, flag: str, value) -> None:
    """Raises ConfigError (the flag, the range, the value) unless `value` lies in the range."""
    if isinstance(value, tuple):
      if value and all(v in self for v in value):
        return
      what = f'hold {self} {self.unit}' if self.unit else f'be {self}'
      raise ConfigError(f'{flag} must {what}, got {list(value)}')
    if value not in self:
      note = f' ({self.note})' if self.note else ''
      raise ConfigError(f'{flag} must be {self}{note}, got {value}')


def _bound(value) -> str:
  return f'{value:g}' if isinstance(value, float) else str(value)


POSITIVE = Range(0, open_low=True)
NON_NEGATIVE = Range(0)
WIDTHS = Range(0, open_low=True, unit='widths')
FRACTION = Range(0, 1, open_high=True)  # [0, 1): momenta, Adam's betas
# The device type of a field's numbers, where it is not its Python type's default (int32,
# float32): a seed is 32 bits unsigned (jax.random.PRNGKey).
SEED = 'uint32'


def field(
  default,
  help_text: str,
  *,
  role: str,
  choices: tuple | None = None,
  bounds: Range | None = None,
  device: str | None = None,
  mlp: bool = False,
  group: str = 'model',
):
  """A config field: its default, its flag's help text and the facts about it.

  Args:
    default: the value; a list becomes a tuple (configs are frozen and hashable).
    help_text: the flag's help.
    role: SHAPE, NUMERIC, SCHEDULE or PATH (see ROLES).
    choices: the values it may take (the flag is an enum).
    bounds: where its numbers must lie (a Range), or None.
    device: the device type of its numbers where not int32/float32 (SEED).
    mlp: it shapes only the models whose layers follow the MLP flags (ModelFacts.mlp_flags).
    group: the part of the experiment it belongs to, for readers of the class.
  """
  if role not in ROLES:
    raise ValueError(f'role {role!r} is not one of {ROLES}')
  metadata = {
    'help': help_text,
    'role': role,
    'choices': choices,
    'bounds': bounds,
    'device': device,
    'mlp': mlp,
    'group': group,
  }
  if isinstance(default, (list, tuple)):
    default = tuple(default)
  return dataclasses.field(default=default, metadata=metadata)


def check_fields(config) -> None:
  """Checks each field of a config dataclass made with `field`, in order, against its facts:
  its type (a list of the default's item type for a tuple), finite numbers the devices can
  hold, its choices, a usable path, its range. Raises ConfigError (one line: the flag, the
  value, the fix) on the first bad field."""
  for f in dataclasses.fields(config):
    value, default, flag = getattr(config, f.name), f.default, f'--{f.name}'
    is_list = isinstance(default, tuple)
    if is_list:
      item_type = type(default[0])
      # An empty list fails its range (one message for widths whether none or a bad one).
      if not all(_is_type(v, item_type) for v in value) or not (value or f.metadata['bounds']):
        raise ConfigError(
          f'{flag} must be a non-empty list of {item_type.__name__}s, got {value!r}'
        )
      if not all(math.isfinite(v) for v in value):
        raise ConfigError(
          f'{flag}={",".join(map(str, value))} holds a number that is not finite; pass real values'
        )
    else:
      if not _is_type(value, type(default)):
        raise ConfigError(f'{flag} must be a {type(default).__name__}, got {value!r}')
      if isinstance(default, float) and not math.isfinite(value):
        raise ConfigError(f'{flag}={value} is not a finite number; pass a real value')
    for number in value if is_list else [value]:
      if f.metadata['device'] == SEED:
        if number > MAX_SEED:
          raise ConfigError(
            f'{flag}={number} is above {MAX_SEED}; JAX keeps only 32 bits of a seed, pick a '
            'smaller one'
          )
      elif isinstance(number, float):
        check_float32(flag, number)
      elif _is_type(number, int):
        check_int32(flag, number)
    choices = f.metadata['choices']
    if choices and value not in choices:
      raise ConfigError(f'{flag}={value} is not one of {", ".join(choices)}')
    if f.metadata['role'] == PATH and value:  # written into base.flags and commands.sh
      check_path(flag, value)
    if f.metadata['bounds'] is not None:
      f.metadata['bounds'].check(flag, value)


def fields_of(config_cls: type, *roles: str) -> tuple[str, ...]:
  """The names of `config_cls`'s fields with one of `roles`, in definition order."""
  return tuple(f.name for f in dataclasses.fields(config_cls) if f.metadata['role'] in roles)


@dataclasses.dataclass(frozen=True)
class Config:
  """An experiment. Defaults are the original code's MNIST recipe (goodfeli/adversarial
  mnist.yaml)."""

  # Data.
  dataset: str = field(
    'mnist_5k', 'Data set to train on.', role=SHAPE, choices=DATASETS, group='data'
  )
  data_dir: str = field(
    '',
    'TFDS data directory where prepared data sets live '
    '(empty: TFDS default, $TFDS_DATA_DIR or ~/tensorflow_datasets).',
    role=PATH,
    group='data',
  )
  manual_dir: str = field(
    '',
    'Directory holding the raw source files (the four idx files of '
    "mnist/fashion_mnist, or cifar-10-batches-bin). Empty: Debian's path "
    'for fashion_mnist, else <data_dir>/downloads/manual/<dataset>.',
    role=PATH,
    group='data',
  )

  preprocessing: str = field(
    'default',
    'What the networks see of a pixel: pixels (uint8 / 255, '
    'in [0, 1]), gcn (global contrast normalisation, per image: '
    'subtract its mean, scale to L2 norm 55, as pylearn2 `gcn: 55.`), '
    "or default (the model's original config: gcn for the cifar10 "
    'models, pixels for mnist_mlp).',
    role=SHAPE,
    choices=('default', 'pixels', 'gcn'),
    group='data',
  )

  # The networks.
  model: str = field(
    'mnist_mlp',
    'Generator and discriminator, by name: mnist_mlp (the MNIST '
    'MLPs, shaped by the flags below), cifar10_fc or cifar10_conv (the original '
    "code's CIFAR-10 nets, layers fixed by their configs).",
    role=SHAPE,
    choices=tuple(MODELS),
  )

  # Generator (mnist_mlp): Dense 1200 ReLU -> Dense 1200 ReLU -> Dense 784 sigmoid.
  noise_dim: int = field(100, 'Dimension of the noise z.', role=SHAPE, bounds=POSITIVE)
  noise_prior: str = field(
    'uniform',
    'Prior of z: uniform on (-sqrt 3, sqrt 3) (unit variance, the '
    'MNIST config) or normal N(0, 1) (the other configs).',
    role=SHAPE,
    choices=('uniform', 'normal'),
  )
  g_hidden: tuple = field(
    (1200, 1200), "Widths of the generator's hidden layers.", role=SHAPE, bounds=WIDTHS, mlp=True
  )
  g_activation: str = field(
    'relu',
    "Activation of the generator's hidden layers.",
    role=SHAPE,
    choices=('relu', 'sigmoid', 'tanh', 'leaky_relu'),
    mlp=True,
  )
  g_init_scale: float = field(
    0.05, 'Generator weights ~ U(-scale, scale).', role=SHAPE, bounds=POSITIVE, mlp=True
  )
  g_output_bias: str = field(
    'marginals',
    "Generator output bias: logit of each pixel's training "
    'mean (original code) or zeros. Sigmoid-output models (mnist_mlp) '
    "only: the cifar10 models' linear output starts at 0, as their "
    'configs.',
    role=SHAPE,
    choices=('marginals', 'zeros'),
  )

  # Discriminator (mnist_mlp): maxout 240x5 -> maxout 240x5 -> Dense 1 sigmoid.
  d_units: tuple = field(
    (240, 240),
    'Units of each maxout layer of the discriminator.',
    role=SHAPE,
    bounds=WIDTHS,
    mlp=True,
  )
  d_pieces: int = field(5, 'Pieces per maxout unit.', role=SHAPE, bounds=POSITIVE, mlp=True)
  d_init_scale: float = field(
    0.005, 'Discriminator weights ~ U(-scale, scale).', role=SHAPE, bounds=POSITIVE, mlp=True
  )
  d_keep_probs: tuple = field(
    (0.8, 0.5, 0.5),
    'Dropout keep probability on the input of each '
    'discriminator layer (pixels, second maxout, output); 1 disables.',
    role=SHAPE,
    bounds=Range(0, 1, open_low=True),
    mlp=True,
  )

  # The game.
  g_loss: str = field(
    'non_saturating',
    'Generator loss: -log D(G(z)) (non_saturating, what the '
    'paper and original code train with) or log(1 - D(G(z))) (minimax).',
    role=SHAPE,
    choices=('non_saturating', 'minimax'),
    group='training',
  )
  update: str = field(
    'simultaneous',
    'simultaneous: D and G step from gradients at the same '
    'parameters (original code); alternating: d_steps D steps then one G step '
    '(Algorithm 1).',
    role=SHAPE,
    choices=('simultaneous', 'alternating'),
    group='training',
  )
  d_steps: int = field(
    1,
    "D steps per G step (the paper's k); only with --update=alternating.",
    role=SHAPE,
    bounds=POSITIVE,
    group='training',
  )

  # Optimiser.
  optimizer: str = field(
    'sgd_momentum',
    'sgd_momentum: the original recipe (v <- mu v - lr g); adam: optax.adam.',
    role=SHAPE,
    choices=('sgd_momentum', 'adam'),
    group='optimizer',
  )
  num_steps: int = field(
    20000, 'Training iterations (G updates).', role=SCHEDULE, bounds=POSITIVE, group='training'
  )
  batch_size: int = field(
    100,
    'Global batch size (split over all devices).',
    role=SHAPE,
    bounds=POSITIVE,
    group='training',
  )
  learning_rate: float = field(
    0.1, 'Initial learning rate of both nets.', role=NUMERIC, bounds=POSITIVE, group='optimizer'
  )
  d_learning_rate: float = field(
    0.0,
    'Initial learning rate of the discriminator, if it differs '
    '(0: --learning_rate; the original code uses one rate).',
    role=NUMERIC,
    bounds=NON_NEGATIVE,
    group='optimizer',
  )
  lr_decay: float = field(
    1.000004,
    'sgd_momentum: lr_t = learning_rate / lr_decay**t.',
    role=NUMERIC,
    bounds=Range(1, note='1 disables decay'),
    group='optimizer',
  )
  min_learning_rate: float = field(
    1e-6,
    'sgd_momentum: floor of the decayed learning rate.',
    role=NUMERIC,
    bounds=POSITIVE,
    group='optimizer',
  )
  momentum: float = field(
    0.5, 'sgd_momentum: momentum at epoch 1.', role=NUMERIC, bounds=FRACTION, group='optimizer'
  )
  final_momentum: float = field(
    0.7,
    'sgd_momentum: momentum reached at --momentum_saturate_epoch.',
    role=NUMERIC,
    bounds=FRACTION,
    group='optimizer',
  )
  momentum_saturate_epoch: int = field(
    250,
    'sgd_momentum: epoch at which momentum stops rising.',
    role=NUMERIC,
    bounds=POSITIVE,
    group='optimizer',
  )
  adam_b1: float = field(0.5, 'adam: beta1.', role=NUMERIC, bounds=FRACTION, group='optimizer')
  adam_b2: float = field(0.999, 'adam: beta2.', role=NUMERIC, bounds=FRACTION, group='optimizer')
  g_ema_decay: float = field(
    0.0,
    "Decay d of an exponential moving average of G's parameters kept beside G (Polyak "
    'averaging; Yazici et al. 2019): avg <- avg + (1 - d_t) (G - avg) after each update. '
    'Sampling, evaluation and figures use the average (evaluation during training reports '
    'the raw G too). 0: no average (the original code).',
    role=NUMERIC,
    bounds=Range(0, 1, open_high=True, note='0: no average'),
    group='optimizer',
  )
  g_ema_warmup: float = field(
    10.0,
    'Warm-up w of the average: update t (from 0) uses d_t = min(d, (1 + t) / (w + t)), so '
    'early parameters do not linger in it; 1: d from the first update (no warm-up).',
    role=NUMERIC,
    bounds=Range(1, MAX_EMA_WARMUP, note='1: no warm-up'),
    group='optimizer',
  )
  seed: int = field(
    0,
    'Seed of parameters, noise, dropout and data order.',
    role=NUMERIC,
    bounds=NON_NEGATIVE,
    device=SEED,
    group='training',
  )

  # Loop.
  steps_per_call: int = field(
    100,
    'Training steps fused into one compiled call (lax.scan).',
    role=SCHEDULE,
    bounds=POSITIVE,
    group='loop',
  )
  log_every: int = field(
    500, 'Log metrics every N steps.', role=SCHEDULE, bounds=POSITIVE, group='loop'
  )
  checkpoint_every: int = field(
    5000, 'Checkpoint every N steps (and at the end).', role=SCHEDULE, bounds=POSITIVE, group='loop'
  )
  keep_checkpoints: int = field(
    3, 'Keep the last K checkpoints.', role=SCHEDULE, bounds=POSITIVE, group='loop'
  )
  sample_every: int = field(
    5000,
    'Write a sample grid from a fixed noise batch every N steps (0: only at the end).',
    role=SCHEDULE,
    bounds=NON_NEGATIVE,
    group='loop',
  )
  num_grid_samples: int = field(
    100,
    'Samples in each grid (a square number fills the grid).',
    role=SCHEDULE,
    bounds=POSITIVE,
    group='loop',
  )
  eval_every: int = field(
    0,
    'Run the evaluation every N steps (0: never during training).',
    role=SCHEDULE,
    bounds=NON_NEGATIVE,
    group='loop',
  )
  eval_num_samples: int = field(
    10000, 'Generated samples used by the evaluation.', role=SCHEDULE, bounds=POSITIVE, group='loop'
  )
  eval_against: str = field(
    'validation',
    'What the evaluation during training compares with: '
    'validation images (for choosing a checkpoint; the test split is '
    "never read) or the test split (the paper's reported protocol).",
    role=SCHEDULE,
    choices=('validation', 'test'),
    group='loop',
  )

  on_nonfinite: str = field(
    'stop',
    'When a loss or parameter becomes NaN/inf: stop (keeping the '
    'last good checkpoint), or rollback to that checkpoint and continue '
    'with the learning rates times --rollback_lr_factor (at most 3 '
    'times).',
    role=SCHEDULE,
    choices=('stop', 'rollback'),
    group='loop',
  )
  rollback_lr_factor: float = field(
    0.5,
    'Learning-rate factor applied at each rollback.',
    role=SCHEDULE,
    bounds=Range(0, 1, open_low=True, open_high=True),
    group='loop',
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
    return cls(**kwargs)

  @classmethod
  def from_json(cls, text: str) -> 'Config':
    try:
      values = json.loads(text)
    except json.JSONDecodeError as e:
      raise ConfigError(f'config is not valid JSON ({e}); fix or delete the file') from None
    if not isinstance(values, dict):
      raise ConfigError('config JSON must be an object of field: value')
    return cls.from_dict(values)

  def __post_init__(self):
    """Validates at construction, so an invalid Config cannot exist: raises ConfigError (one
    line: the flag, the value, the fix) on the first bad field, then on the first mismatch
    between fields."""
    check_fields(self)
    if len(self.d_keep_probs) != len(self.d_units) + 1:
      raise ConfigError(
        f'--d_keep_probs needs {len(self.d_units) + 1} values (one per '
        f'discriminator layer input), got {list(self.d_keep_probs)}'
      )
    if self.update == 'simultaneous' and self.d_steps != 1:
      raise ConfigError(
        f'--d_steps={self.d_steps} needs --update=alternating (simultaneous '
        'updates take one D step per G step)'
      )
    facts = MODELS[self.model]
    if not facts.mlp_flags:
      changed = [name for name in MLP_SHAPE_FIELDS if getattr(self, name) != _DEFAULTS[name]]
      if changed:
        shaped = ' or '.join(m for m, f in MODELS.items() if f.mlp_flags)
        raise ConfigError(
          f'--{changed[0]} shapes --model={shaped} only; '
          f"{self.model}'s layers are fixed by its module: drop the flag"
        )
    if self.dataset not in facts.datasets:
      raise ConfigError(
        f'--model={self.model} takes --dataset={" or ".join(facts.datasets)}, got '
        f'--dataset={self.dataset}; pick a matching data set or model'
      )
    if facts.output == 'sigmoid' and self.resolved_preprocessing == 'gcn':
      raise ConfigError(
        '--preprocessing=gcn makes real-valued data that the sigmoid output of '
        f'--model={self.model} cannot produce; use --preprocessing=pixels'
      )

  @property
  def resolved_preprocessing(self) -> str:
    """'pixels' or 'gcn': --preprocessing, with 'default' resolved by the model."""
    if self.preprocessing == 'default':
      return MODELS[self.model].preprocessing
    return self.preprocessing

  @property
  def discriminator_learning_rate(self) -> float:
    """D's initial rate: --d_learning_rate, or --learning_rate where that is 0 (the original
    code uses one rate for both nets)."""
    return self.d_learning_rate or self.learning_rate

  def diff(self, other: 'Config', fields: tuple[str, ...]) -> list[str]:
    """Names of `fields` whose values differ between the two configs."""
    return [name for name in fields if getattr(self, name) != getattr(other, name)]


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Config)}
# Fields that fix the shapes and meaning of a checkpoint: resuming with any of them changed
# would silently train a different experiment.
CHECKPOINT_FIELDS = fields_of(Config, SHAPE, NUMERIC)
# Fields that only change numbers held in the state (the seed of the initial state, the
# optimisers' hyperparameters in their states): members of a population may differ in these
# and still share one compiled step. Any other field changes shapes or code.
NUMERIC_FIELDS = fields_of(Config, NUMERIC)
# The fields that shape the MLP nets; the other models' layers are fixed by their modules.
MLP_SHAPE_FIELDS = tuple(f.name for f in dataclasses.fields(Config) if f.metadata['mlp'])
# Whether G is averaged is structure (the state holds the average or not), its numbers are not:
# structure() keeps an average by setting this representative decay (the states hold each
# member's own).
_AVERAGED = 0.999


def structure(config: Config) -> Config:
  """`config` with its numeric fields at their defaults (an averaged G stays averaged): equal
  for members of one population."""
  numbers = {name: _DEFAULTS[name] for name in NUMERIC_FIELDS}
  numbers['g_ema_decay'] = _AVERAGED if config.g_ema_decay else 0.0
  return config.replace(**numbers)


def _is_type(value, expected) -> bool:
  if expected is float:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
  if expected is int:
    return isinstance(value, int) and not isinstance(value, bool)
  return isinstance(value, expected)
