"""Command-line flags generated from a config dataclass, so the two never drift apart.

A config class is a frozen dataclass whose every field has a default and a `help` string in
its metadata (and optionally `choices`), validated at construction (ConfigError).
A field's flag type follows its default: bool, int, float, str, or a tuple (a comma-separated
list of its first item's type); a field with `choices` is an enum. `Config` (the main
experiment) is one such class, `experiments.toy1d.config.ToyConfig` another.
"""

import dataclasses
from typing import Sequence, TypeVar

from absl import flags

from experiments import cli
from gan_jax.base.config import Config
from gan_jax.base.errors import ConfigError

FLAGS = flags.FLAGS
ConfigT = TypeVar('ConfigT')
# Flags defined here belong to the entry point that asked for them, so its --help lists them.
flags.disclaim_key_flags()


def define_flags(config_cls: type, flag_values: flags.FlagValues = FLAGS) -> None:
  """Defines one flag per field of `config_cls`, with the field's default and help.

  Idempotent: a flag already defined (by an earlier call) is left alone.
  """
  for f in dataclasses.fields(config_cls):
    if f.name in flag_values:
      continue
    if 'help' not in f.metadata or f.default is dataclasses.MISSING:
      raise TypeError(
        f'{config_cls.__name__}.{f.name} needs a default and metadata["help"] to be a flag'
      )
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


def from_flags(config_cls: type[ConfigT], flag_values: flags.FlagValues = FLAGS) -> ConfigT:
  """Reads the parsed flags into a validated `config_cls` (ConfigError names the bad flag)."""
  values = {}
  for f in dataclasses.fields(config_cls):
    value = flag_values[f.name].value
    if isinstance(f.default, tuple):
      item_type = type(f.default[0])
      try:
        value = tuple(item_type(v) for v in value)
      except ValueError:
        raise ConfigError(
          f'--{f.name} must be a comma-separated list of '
          f'{item_type.__name__}s, got {",".join(value)!r}'
        ) from None
    values[f.name] = value
  return config_cls(**values)


def from_args(config_cls: type[ConfigT], args: Sequence[str]) -> ConfigT:
  """A `config_cls` from command-line style arguments (e.g. ['--flagfile=x.flags', '--seed=1']),
  parsed in a private FlagValues: for tests, sweeps and notebooks."""
  flag_values = flags.FlagValues()
  define_flags(config_cls, flag_values)
  try:
    flag_values(['config', *args])
  except flags.Error as e:
    raise ConfigError(' '.join(str(e).split())) from None
  return from_flags(config_cls, flag_values)


# The main experiment's Config, as its entry points (mnist, sweep) and tools call it.


def define_config_flags(flag_values: flags.FlagValues = FLAGS) -> None:
  """Defines one flag per Config field. Idempotent."""
  define_flags(Config, flag_values)


def config_from_flags(flag_values: flags.FlagValues = FLAGS) -> Config:
  """Reads the parsed flags into a validated Config."""
  return from_flags(Config, flag_values)


def config_from_args(args: Sequence[str]) -> Config:
  """A Config from command-line style arguments, parsed in a private FlagValues."""
  return from_args(Config, args)


def define_workdir_flag(required: bool = True) -> None:
  cli.path_flags('workdir')
  if 'workdir' not in FLAGS:
    flags.DEFINE_string('workdir', None, 'Directory for checkpoints, metrics, images and logs.')
    if required:
      flags.mark_flag_as_required('workdir')
