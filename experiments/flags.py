"""Command-line flags generated from `Config`, so the two never drift apart."""

import dataclasses
from typing import Sequence

from absl import flags

from gan_jax.runtime.config import Config
from gan_jax.runtime.errors import ConfigError

FLAGS = flags.FLAGS


def define_config_flags(flag_values: flags.FlagValues = FLAGS) -> None:
  """Defines one flag per Config field, with the field's default and help. Idempotent."""
  for f in dataclasses.fields(Config):
    if f.name in flag_values:
      continue
    help_text, choices = f.metadata['help'], f.metadata.get('choices')
    default = f.default
    kwargs = dict(flag_values=flag_values)
    if choices:
      flags.DEFINE_enum(f.name, default, choices, help_text, **kwargs)
    elif isinstance(default, tuple):
      flags.DEFINE_list(f.name, [str(v) for v in default], help_text, **kwargs)
    elif isinstance(default, bool):
      flags.DEFINE_bool(f.name, default, help_text, **kwargs)
    elif isinstance(default, int):
      flags.DEFINE_integer(f.name, default, help_text, **kwargs)
    elif isinstance(default, float):
      flags.DEFINE_float(f.name, default, help_text, **kwargs)
    else:
      flags.DEFINE_string(f.name, default, help_text, **kwargs)


def config_from_flags(flag_values: flags.FlagValues = FLAGS) -> Config:
  """Reads the parsed flags into a validated Config (ConfigError names the bad flag)."""
  values = {}
  for f in dataclasses.fields(Config):
    value = flag_values[f.name].value
    if isinstance(f.default, tuple):
      item_type = type(f.default[0])
      try:
        value = tuple(item_type(v) for v in value)
      except ValueError:
        raise ConfigError(f'--{f.name} must be a comma-separated list of '
                          f'{item_type.__name__}s, got {",".join(value)!r}') from None
    values[f.name] = value
  return Config.from_dict(values)


def config_from_args(args: Sequence[str]) -> Config:
  """A Config from command-line style arguments (e.g. ['--flagfile=x.flags', '--seed=1']),
  parsed in a private FlagValues: for tests, sweeps and notebooks."""
  flag_values = flags.FlagValues()
  define_config_flags(flag_values)
  try:
    flag_values(['config', *args])
  except flags.Error as e:
    raise ConfigError(' '.join(str(e).split())) from None
  return config_from_flags(flag_values)


def define_workdir_flag(required: bool = True) -> None:
  if 'workdir' not in FLAGS:
    flags.DEFINE_string('workdir', None, 'Directory for checkpoints, metrics, images and logs.')
    if required:
      flags.mark_flag_as_required('workdir')
