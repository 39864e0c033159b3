"""The plan of a sweep: a list of flag overrides, as members grouped into populations and runs.

A sweep file is Python defining `sweep()`, which returns one dict of flag overrides per member:

  from gan_jax.sweep.plan import product
  def sweep():
    return product(seed=[0, 1, 2, 3], learning_rate=[0.1, 0.05])

Members that differ from each other only in numbers (population.NUMERIC_FIELDS: seed, learning
rates, momentum, ...) form one group and train as one vmapped population; each other combination
of fields that change shapes or code (architecture, d_steps, update, optimizer, batch size, ...)
is a group of its own, a separate process. Every member gets its own workdir,
<sweep workdir>/<member name>, holding what a normal run writes.

The sweep workdir holds base.flags (the whole base config), commands.sh (one command per group),
sweep.json (the plan), and at the end results.csv and results.md, members ranked by a metric.
This module is the plan only: pure functions of a Config and the sweep file. Writing the
commands, launching them and ranking the members belong to the entry point that runs sweeps.
"""

import dataclasses
import itertools
import os
import re
import runpy
import traceback
from typing import Any, Callable, Sequence

from gan_jax.base.config import Config, control_character
from gan_jax.base.errors import ConfigError, UserError
from gan_jax.loop import population

BASE_FLAGS_FILE = 'base.flags'
COMMANDS_FILE = 'commands.sh'
PLAN_FILE = 'sweep.json'
RESULTS_CSV = 'results.csv'
RESULTS_MD = 'results.md'
# The sweep workdir's own files: no member directory may take one of their names.
SWEEP_FILES = (BASE_FLAGS_FILE, COMMANDS_FILE, PLAN_FILE, RESULTS_CSV, RESULTS_MD)

# (base config, a member's overrides) -> the member's config, validated (ConfigError if not):
# the entry point parses overrides as it parses its own flags.
ApplyOverrides = Callable[[Config, dict[str, Any]], Config]


def product(**axes: Sequence[Any]) -> list[dict[str, Any]]:
  """Every combination of the axes, the last varying fastest.

  product(seed=[0, 1], learning_rate=[0.1, 0.05]) is
  [{'seed': 0, 'learning_rate': 0.1}, {'seed': 0, 'learning_rate': 0.05}, {'seed': 1, ...}, ...].
  """
  names = list(axes)
  return [dict(zip(names, values)) for values in itertools.product(*axes.values())]


def load_spec(path: str) -> list[dict[str, Any]]:
  """The member overrides of the sweep file `path` (its `sweep()`), checked."""
  if not os.path.isfile(path):
    raise UserError(
      f'--sweep={path} is not a file; pass a Python file defining sweep(), '
      'returning a list of dicts of flag overrides'
    )
  try:
    namespace = runpy.run_path(path)
  except (Exception, SystemExit) as e:  # the user's code: a syntax error, an import, an exit
    raise UserError(
      f'--sweep={path} failed to load at {_where(path, e)}: {_describe(e)}; fix the file'
    ) from None
  fn = namespace.get('sweep')
  if not callable(fn):
    raise UserError(
      f'--sweep={path} must define sweep(), returning a list of dicts of flag overrides'
    )
  try:
    spec = fn()
  except (Exception, SystemExit) as e:
    raise UserError(
      f'sweep() of --sweep={path} failed at {_where(path, e)}: {_describe(e)}; fix the file'
    ) from None
  if (
    not isinstance(spec, (list, tuple))
    or not spec
    or not all(isinstance(m, dict) and all(isinstance(k, str) for k in m) for m in spec)
  ):
    raise UserError(
      f'sweep() of {path} must return a non-empty list of dicts of flag '
      f'overrides, got {spec!r:.200}'
    )
  return [dict(m) for m in spec]


def _where(path: str, error: BaseException) -> str:
  """file:line of `error`: where a syntax error is, else the sweep file's innermost frame."""
  if isinstance(error, SyntaxError) and error.filename is not None:
    return f'{error.filename}:{error.lineno}'
  if isinstance(error, SyntaxError):  # NUL bytes: Python names neither the file nor the line
    try:
      with open(path, 'rb') as f:
        before, nul, _ = f.read().partition(b'\0')
    except OSError:
      return path
    line = before.count(b'\n') + 1
    return f'{path}:{line}' if nul else path
  frames = [
    f
    for f in traceback.extract_tb(error.__traceback__)
    if os.path.realpath(f.filename) == os.path.realpath(path)
  ]
  return f'{path}:{frames[-1].lineno}' if frames else path


def _describe(error: BaseException) -> str:
  if isinstance(error, SystemExit):
    return f'it called exit({error.code!r})'
  if isinstance(error, SyntaxError):
    return f'SyntaxError: {error.msg}'
  return f'{type(error).__name__}: {error}'


def flag_value(value: Any) -> str:
  """`value` as a command-line flag value (lists comma-separated, as the config flags take)."""
  if isinstance(value, (list, tuple)):
    return ','.join(flag_value(v) for v in value)
  if isinstance(value, bool):
    return 'true' if value else 'false'
  if isinstance(value, float):
    return repr(value)
  return str(value)


def config_flags(config: Config) -> list[str]:
  """--field=value for every field: a flagfile that reproduces `config` exactly."""
  return [f'--{k}={flag_value(v)}' for k, v in config.to_dict().items()]


def member_name(overrides: dict[str, Any]) -> str:
  """A directory name from a member's overrides: {'seed': 1, 'learning_rate': 0.05} ->
  'seed_1-learning_rate_0.05' ('base' for none)."""
  if not overrides:
    return 'base'
  name = '-'.join(f'{k}_{flag_value(v)}' for k, v in overrides.items())
  return re.sub(r'[^A-Za-z0-9._,+-]', '_', name)


@dataclasses.dataclass(frozen=True)
class Member:
  name: str
  overrides: dict[str, Any]
  config: Config


@dataclasses.dataclass(frozen=True)
class Group:
  """Members with the same structure: one population (or one normal run if alone)."""

  name: str
  members: tuple[Member, ...]

  @property
  def is_population(self) -> bool:
    return len(self.members) > 1


@dataclasses.dataclass(frozen=True)
class Plan:
  base: Config
  groups: tuple[Group, ...]

  @property
  def members(self) -> list[Member]:
    return [m for g in self.groups for m in g.members]

  def group(self, name: str) -> Group:
    for g in self.groups:
      if g.name == name:
        return g
    raise UserError(
      f'--group={name} is not a group of this sweep; groups: '
      f'{", ".join(g.name for g in self.groups)}'
    )

  def swept_fields(self) -> list[str]:
    return list(dict.fromkeys(k for m in self.members for k in m.overrides))


def make_plan(
  base: Config, spec: Sequence[dict[str, Any]], apply_overrides: ApplyOverrides
) -> Plan:
  """Members (base + overrides, through `apply_overrides`) grouped by structure, in spec order.

  Raises:
    ConfigError: a bad override (a key that is not a config field, a bad value), a name that is
      not a plain directory name, two members with one name or with one config.
  """
  fields = {f.name for f in dataclasses.fields(Config)}
  members = []
  for i, entry in enumerate(spec):
    unknown = sorted(set(entry) - fields - {'name'})
    if unknown:
      raise ConfigError(
        f'sweep member {i} sets {unknown[0]!r}, which is not a config field; a '
        'member may set only config fields (see --helpfull) and "name"'
      )
    overrides = {k: v for k, v in entry.items() if k != 'name'}
    for key, value in overrides.items():  # written into commands.sh, one command per line
      char = control_character(flag_value(value))
      if char is not None:
        raise ConfigError(
          f'sweep member {i} sets {key}={flag_value(value)!r}, which holds the control '
          f'character {char!r}; fix the value'
        )
    try:
      config = apply_overrides(base, overrides)
    except ConfigError as e:
      raise ConfigError(f'sweep member {i} {overrides}: {e}') from None
    name = entry['name'] if 'name' in entry else member_name(overrides)
    check_member_name(name, i)
    members.append(Member(name, overrides, config))
  names = [m.name.casefold() for m in members]  # one directory on a case-insensitive disk
  duplicate = next((m.name for m, n in zip(members, names) if names.count(n) > 1), None)
  if duplicate:
    raise ConfigError(
      f'two sweep members are both named {duplicate!r}; give them different '
      'overrides or a "name" key'
    )
  seen = {}
  for member in members:
    if member.config in seen:
      raise ConfigError(
        f'sweep members {seen[member.config]!r} and {member.name!r} are the '
        'same config apart from their names; drop one'
      )
    seen[member.config] = member.name
  by_structure: dict[Config, list[Member]] = {}
  for member in members:
    by_structure.setdefault(population.structure(member.config), []).append(member)
  groups = []
  for group_members in by_structure.values():
    first = group_members[0]
    structural = {k: v for k, v in first.overrides.items() if k not in population.NUMERIC_FIELDS}
    groups.append(Group(member_name(structural), tuple(group_members)))
  group_names = [g.name for g in groups]
  if len(set(group_names)) != len(group_names):
    groups = [Group(f'{i:02d}-{g.name}', g.members) for i, g in enumerate(groups)]
  return Plan(base, tuple(groups))


def check_member_name(name: Any, index: int) -> None:
  """A member's name is its directory inside the sweep workdir: a plain, new name."""
  if not isinstance(name, str) or not name:
    raise ConfigError(f'sweep member {index}: "name" must be a non-empty string, got {name!r}')
  char = control_character(name)
  if char is not None:  # a newline would split its line of commands.sh in two
    raise ConfigError(
      f'sweep member {index}: name {name!r} holds the control character {char!r}; rename it'
    )
  if (
    os.path.isabs(name)
    or '/' in name
    or os.sep in name
    or '..' in name
    or name.startswith('.')
    or '\0' in name
    or name in SWEEP_FILES
  ):
    raise ConfigError(
      f'sweep member {index}: name {name!r} is not a plain directory name (no '
      '"/", "..", leading "." or file of the sweep); members train inside the '
      'sweep --workdir'
    )


def member_dirs(plan: Plan, workdir: str) -> list[str]:
  """Each member's directory, checked to resolve inside `workdir` (symbolic links included)."""
  root = os.path.realpath(workdir)
  dirs = []
  for member in plan.members:
    path = os.path.join(workdir, member.name)
    if os.path.dirname(os.path.realpath(path)) != root:
      raise ConfigError(
        f'sweep member {member.name!r} would train in '
        f'{os.path.realpath(path)}, outside --workdir={workdir}; rename it'
      )
    dirs.append(path)
  return dirs
