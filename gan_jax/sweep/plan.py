"""Sweeps: a list of flag overrides, trained as populations and runs, ranked in one table.

A sweep file is Python defining `sweep()`, which returns one dict of flag overrides per member:

  from gan_jax.sweep.plan import product
  def sweep():
    return product(seed=[0, 1, 2, 3], learning_rate=[0.1, 0.05])

Members that differ from each other only in numbers (population.NUMERIC_FIELDS: seed, learning
rates, momentum, ...) form one group and train as one vmapped population; each other combination
of fields that change shapes or code (architecture, d_steps, update, optimizer, batch size, ...)
is a group of its own, a separate process command. Every member gets its own workdir,
<sweep workdir>/<member name>, holding what a normal run writes.

The sweep workdir holds base.flags (the whole base config), commands.sh (one command per group,
one per line, for any scheduler), sweep.json (the plan), and at the end results.csv and
results.md, members ranked by a metric.
"""

import contextlib
import csv
import dataclasses
import itertools
import json
import math
import os
import re
import runpy
import shlex
import time
import traceback
from typing import Any, Callable, Sequence

import numpy as np

from gan_jax.runtime import distributed
from gan_jax.sweep import population
from gan_jax.runtime import workdir as workdir_lib
from gan_jax.runtime import writers
from gan_jax.runtime.config import Config
from gan_jax.runtime.errors import ConfigError, UserError
from experiments.flags import config_from_args

BASE_FLAGS_FILE = 'base.flags'
COMMANDS_FILE = 'commands.sh'
PLAN_FILE = 'sweep.json'
RESULTS_CSV = 'results.csv'
RESULTS_MD = 'results.md'
# A member's evaluation, next to its checkpoints; reused while its newest checkpoint is the same.
EVAL_FILE = 'sweep_eval.json'

# What --eval computes: the paper's Parzen LL only (no classifier), every metric of
# gan_jax.evaluation (trains and caches its classifier on first use), or nothing (rank by a
# training metric).
EVAL_MODES = ('auto', 'parzen', 'full', 'none')
TRAINING_METRICS = ('d_loss', 'g_loss', 'd_real', 'd_fake')
# True: higher is better. Training losses have no better direction: --rank_mode says.
METRIC_DIRECTIONS = {'parzen_ll': True, 'frechet_distance': False, 'kid': False,
                     'classifier_score': True, 'precision': True, 'recall': True,
                     'coverage': True, 'class_kl': False}


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
    raise UserError(f'--sweep={path} is not a file; pass a Python file defining sweep() (see '
                    'experiments/sweeps/)')
  try:
    namespace = runpy.run_path(path)
  except (Exception, SystemExit) as e:  # the user's code: a syntax error, an import, an exit
    raise UserError(f'--sweep={path} failed to load at {_where(path, e)}: {_describe(e)}; fix '
                    'the file') from None
  fn = namespace.get('sweep')
  if not callable(fn):
    raise UserError(f'--sweep={path} must define sweep(), returning a list of dicts of flag '
                    'overrides')
  try:
    spec = fn()
  except (Exception, SystemExit) as e:
    raise UserError(f'sweep() of --sweep={path} failed at {_where(path, e)}: {_describe(e)}; '
                    'fix the file') from None
  if (not isinstance(spec, (list, tuple)) or not spec
      or not all(isinstance(m, dict) and all(isinstance(k, str) for k in m) for m in spec)):
    raise UserError(f'sweep() of {path} must return a non-empty list of dicts of flag '
                    f'overrides, got {spec!r:.200}')
  return [dict(m) for m in spec]


def _where(path: str, error: BaseException) -> str:
  """file:line of `error`: where a syntax error is, else the sweep file's innermost frame."""
  if isinstance(error, SyntaxError):
    return f'{error.filename}:{error.lineno}'
  frames = [f for f in traceback.extract_tb(error.__traceback__)
            if os.path.realpath(f.filename) == os.path.realpath(path)]
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
    raise UserError(f'--group={name} is not a group of this sweep; groups: '
                    f'{", ".join(g.name for g in self.groups)}')

  def swept_fields(self) -> list[str]:
    return list(dict.fromkeys(k for m in self.members for k in m.overrides))


def make_plan(base: Config, spec: Sequence[dict[str, Any]]) -> Plan:
  """Members (base + overrides, parsed as flags are) grouped by structure, in spec order.

  Raises:
    ConfigError: a bad override (a key that is not a config field, a bad value), a name that is
      not a plain directory name, two members with one name or with one config.
  """
  base_args = config_flags(base)
  fields = {f.name for f in dataclasses.fields(Config)}
  members = []
  for i, entry in enumerate(spec):
    unknown = sorted(set(entry) - fields - {'name'})
    if unknown:
      raise ConfigError(f'sweep member {i} sets {unknown[0]!r}, which is not a config field; a '
                        'member may set only config fields (see --helpfull) and "name"')
    overrides = {k: v for k, v in entry.items() if k != 'name'}
    try:
      config = config_from_args([*base_args, *(f'--{k}={flag_value(v)}'
                                               for k, v in overrides.items())])
    except ConfigError as e:
      raise ConfigError(f'sweep member {i} {overrides}: {e}') from None
    name = entry['name'] if 'name' in entry else member_name(overrides)
    check_member_name(name, i)
    members.append(Member(name, overrides, config))
  names = [m.name.casefold() for m in members]  # one directory on a case-insensitive disk
  duplicate = next((m.name for m, n in zip(members, names) if names.count(n) > 1), None)
  if duplicate:
    raise ConfigError(f'two sweep members are both named {duplicate!r}; give them different '
                      'overrides or a "name" key')
  seen = {}
  for member in members:
    if member.config in seen:
      raise ConfigError(f'sweep members {seen[member.config]!r} and {member.name!r} are the '
                        'same config apart from their names; drop one')
    seen[member.config] = member.name
  by_structure: dict[Config, list[Member]] = {}
  for member in members:
    by_structure.setdefault(population.structure(member.config), []).append(member)
  groups = []
  for group_members in by_structure.values():
    first = group_members[0]
    structural = {k: v for k, v in first.overrides.items()
                  if k not in population.NUMERIC_FIELDS}
    groups.append(Group(member_name(structural), tuple(group_members)))
  group_names = [g.name for g in groups]
  if len(set(group_names)) != len(group_names):
    groups = [Group(f'{i:02d}-{g.name}', g.members) for i, g in enumerate(groups)]
  return Plan(base, tuple(groups))


# The sweep workdir's own files: no member directory may take one of their names.
SWEEP_FILES = (BASE_FLAGS_FILE, COMMANDS_FILE, PLAN_FILE, RESULTS_CSV, RESULTS_MD)


def check_member_name(name: Any, index: int) -> None:
  """A member's name is its directory inside the sweep workdir: a plain, new name."""
  if not isinstance(name, str) or not name:
    raise ConfigError(f'sweep member {index}: "name" must be a non-empty string, got {name!r}')
  if (os.path.isabs(name) or '/' in name or os.sep in name or '..' in name
      or name.startswith('.') or '\0' in name or name in SWEEP_FILES):
    raise ConfigError(f'sweep member {index}: name {name!r} is not a plain directory name (no '
                      '"/", "..", leading "." or file of the sweep); members train inside the '
                      'sweep --workdir')


def member_dirs(plan: Plan, workdir: str) -> list[str]:
  """Each member's directory, checked to resolve inside `workdir` (symbolic links included)."""
  root = os.path.realpath(workdir)
  dirs = []
  for member in plan.members:
    path = os.path.join(workdir, member.name)
    if os.path.dirname(os.path.realpath(path)) != root:
      raise ConfigError(f'sweep member {member.name!r} would train in '
                        f'{os.path.realpath(path)}, outside --workdir={workdir}; rename it')
    dirs.append(path)
  return dirs


def commands(plan: Plan, workdir: str, spec_path: str, *, python: str = 'python',
             extra_sweep_args: Sequence[str] = ()) -> list[str]:
  """One shell command per group: a normal run for a lone member, a population otherwise.

  The commands read <workdir>/base.flags (write it first: write_plan_files) and use absolute
  paths, so a scheduler can run each line from anywhere, in any order or all at once.
  """
  workdir = os.path.abspath(workdir)
  base_flags = f'--flagfile={os.path.join(workdir, BASE_FLAGS_FILE)}'
  lines = []
  for group in plan.groups:
    if group.is_population:
      args = ['-m', 'experiments.sweep', base_flags, f'--sweep={os.path.abspath(spec_path)}',
              f'--workdir={workdir}', f'--group={group.name}', *extra_sweep_args]
    else:
      member = group.members[0]
      args = ['-m', 'experiments.mnist', base_flags,
              *(f'--{k}={flag_value(v)}' for k, v in member.overrides.items()),
              f'--workdir={os.path.join(workdir, member.name)}']
    lines.append(' '.join(shlex.quote(a) for a in [python, *args]))
  return lines


def write_plan_files(plan: Plan, workdir: str, spec_path: str, **command_args) -> None:
  """base.flags, commands.sh and sweep.json into the sweep workdir (process 0 only)."""
  if not distributed.is_primary():
    return
  os.makedirs(workdir, exist_ok=True)
  writers.write_text(os.path.join(workdir, BASE_FLAGS_FILE),
              '# The base config of this sweep, every field (written by experiments.sweep).\n'
              + '\n'.join(config_flags(plan.base)) + '\n')
  writers.write_text(os.path.join(workdir, COMMANDS_FILE),
              '\n'.join(commands(plan, workdir, spec_path, **command_args)) + '\n')
  writers.write_text(os.path.join(workdir, PLAN_FILE), json.dumps({
      'sweep': os.path.abspath(spec_path),
      'groups': [{'name': g.name, 'population': g.is_population,
                  'members': [{'name': m.name, 'overrides': m.overrides} for m in g.members]}
                 for g in plan.groups]}, indent=2, default=str) + '\n')


# Evaluation: (gan, g_params) -> scalars; a 'real_data/' prefix marks the reference row.
Evaluator = Callable[[Any, Any], dict[str, float]]


def resolve_eval_mode(mode: str, rank_by: str) -> str:
  """The evaluation --rank_by needs when --eval=auto; checks the two agree otherwise."""
  if mode not in EVAL_MODES:
    raise ConfigError(f'--eval={mode} is not one of {", ".join(EVAL_MODES)}')
  needs = ('none' if rank_by in TRAINING_METRICS else
           'parzen' if rank_by in ('parzen_ll', 'parzen_se') else
           'full' if rank_by in METRIC_DIRECTIONS else None)
  if needs is None:
    known = [*METRIC_DIRECTIONS, 'parzen_se', *TRAINING_METRICS]
    raise ConfigError(f'--rank_by={rank_by} is not a metric; use one of {", ".join(known)}')
  if mode == 'auto':
    return needs
  order = {'none': 0, 'parzen': 1, 'full': 2}
  if order[mode] < order[needs]:
    raise ConfigError(f'--rank_by={rank_by} needs --eval={needs} (or auto), got --eval={mode}')
  return mode


def make_evaluator(mode: str, config: Config) -> Evaluator | None:
  """The evaluation of each member, built once for the sweep's data set (None for 'none').

  Samples: config.eval_num_samples, the noise of gan_jax.evaluation.generate_samples. Members
  are ranked on validation data, never on the test split (ranking is choosing): Parzen's σ on
  the first 1,000 validation images, the log-likelihood of the rest of the validation split
  (gan_jax.evaluation.protocol, against='validation'), with the same number for real training
  images as the reference row. The test number of the member chosen is
  `experiments.evaluate --workdir=<member dir>`, computed once.
  """
  if mode == 'none':
    return None
  from gan_jax import data
  from gan_jax import evaluation
  num = config.eval_num_samples
  config = config.replace(eval_against='validation')
  if mode == 'full':
    eval_fn = evaluation.make_eval_fn(config, num_samples=num)
    return lambda gan, g_params: eval_fn(gan, g_params, 0)
  dirs = dict(data_dir=config.data_dir or None, manual_dir=config.manual_dir or None)
  pixels = lambda images: (np.asarray(images, np.float32).reshape(len(images), -1) / 255.0)
  selection, _, held_out, _ = evaluation.held_out_sets(config.dataset, 'validation', **dirs)
  selection, held_out = pixels(selection), pixels(held_out)
  train_images = pixels(data.load_split(config.dataset, 'train', **dirs).images)
  real = train_images[np.sort(np.random.default_rng(0).choice(
      len(train_images), min(num, len(train_images)), replace=False))]
  real_ll = evaluation.parzen_estimate(real, selection, held_out)

  def evaluate(gan, g_params):
    samples = evaluation.generate_samples(gan, g_params, num)
    p = evaluation.parzen_estimate(samples, selection, held_out)
    return {'parzen_ll': p.ll, 'parzen_se': p.se, 'real_data/parzen_ll': real_ll.ll,
            'real_data/parzen_se': real_ll.se}

  return evaluate


def _game_for(config: Config):
  """The game of `config` for sampling: one object per structure, so every member of a
  population samples through one compiled generator (steps_per_epoch, which only shapes the
  schedules, is irrelevant here)."""
  from gan_jax import data
  return population.program_game(config, math.prod(data.image_shape(config.dataset)),
                                 config.batch_size)


def record_eval(workdir: str, step: int, mode: str, scalars: dict[str, float]) -> None:
  if distributed.is_primary():
    writers.write_text(os.path.join(workdir, EVAL_FILE), json.dumps(
        {'step': int(step), 'eval': mode, **{k: float(v) for k, v in scalars.items()}},
        indent=2, sort_keys=True) + '\n')


def read_eval(workdir: str) -> dict | None:
  path = os.path.join(workdir, EVAL_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError):
    return None


def train_group(group: Group, workdir: str, *, evaluator: Evaluator | None, eval_mode: str,
                sweep_devices: int = 0, overwrite: bool = False) -> None:
  """Trains (or resumes) a group, then evaluates its members (on every process; process 0
  writes each member's sweep_eval.json)."""
  import jax
  from gan_jax.loop import train
  dirs = [os.path.join(workdir, m.name) for m in group.members]
  configs = [m.config for m in group.members]
  if overwrite and distributed.is_primary():
    for member_dir in dirs:
      if os.path.exists(os.path.join(member_dir, EVAL_FILE)):
        os.remove(os.path.join(member_dir, EVAL_FILE))
  eval_fn = None
  if configs[0].eval_every > 0:  # evaluation during training, as experiments.mnist runs it
    from gan_jax import evaluation
    eval_fn = evaluation.make_eval_fn(configs[0])
  if group.is_population:
    states = population.train_population(configs, dirs, sweep_devices=sweep_devices,
                                         overwrite=overwrite, eval_fn=eval_fn)
    mesh = states.step.sharding.mesh
    finals = [population.take_member(states, i, mesh) for i in range(len(configs))]
  else:
    finals = [train.train_and_evaluate(configs[0], dirs[0], overwrite=overwrite,
                                       eval_fn=eval_fn)]
  for member, member_dir, state in zip(group.members, dirs, finals):
    if os.path.exists(os.path.join(member_dir, population.FAILED_FILE)):
      continue
    scalars = {}
    if evaluator is not None:
      scalars = evaluator(_game_for(member.config), state.g_params)
    record_eval(member_dir, int(jax.device_get(state.step)), eval_mode, scalars)


def evaluate_missing(plan: Plan, workdir: str, *, evaluator: Evaluator | None,
                     eval_mode: str) -> None:
  """Evaluates, from their newest checkpoints, members whose evaluation is missing or older
  (members trained by commands.sh lines run elsewhere)."""
  import jax
  from gan_jax.runtime import sampling
  for member in plan.members:
    member_dir = os.path.join(workdir, member.name)
    latest = _latest_step(member_dir)
    done = read_eval(member_dir)
    if (latest is None or os.path.exists(os.path.join(member_dir, population.FAILED_FILE))
        or (done and done.get('step') == latest and done.get('eval') == eval_mode)):
      continue
    if jax.process_count() > 1:  # restoring onto one host's devices is a one-process job
      writers.log(f'{member_dir} has no evaluation of step {latest}; run the sweep command '
                  'with --results_only as one process to add it')
      continue
    restored = sampling.restore(member_dir)
    scalars = evaluator(restored.gan, restored.g_params) if evaluator else {}
    record_eval(member_dir, restored.step, eval_mode, scalars)


def _latest_step(member_dir: str) -> int | None:
  """The newest committed checkpoint step (orbax renames a step's temporary directory to the
  bare step number when the write commits), read without orbax."""
  from gan_jax.runtime import checkpoint
  directory = checkpoint.checkpoint_dir(member_dir)
  if not os.path.isdir(directory):
    return None
  steps = [int(n) for n in os.listdir(directory) if n.isdigit()]
  return max(steps) if steps else None


def results_rows(plan: Plan, workdir: str, rank_by: str, higher_is_better: bool
                 ) -> tuple[list[dict[str, Any]], dict[str, float]]:
  """One row per member, best first; members without the metric (failed, not trained) last.

  Returns:
    (rows, the reference row's scalars: the same metrics on real data, where computed).
  """
  rows, reference = [], {}
  for group in plan.groups:
    for member in group.members:
      member_dir = os.path.join(workdir, member.name)
      row = {'member': member.name, 'group': group.name}
      row.update({k: getattr(member.config, k) for k in plan.swept_fields()})
      if os.path.exists(os.path.join(member_dir, population.FAILED_FILE)):
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

  def key(row):
    value = row.get(rank_by) if row['status'] == 'ok' else None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
      return (1, 0.0)
    return (0, -value if higher_is_better else value)

  rows.sort(key=key)
  for rank, row in enumerate(rows, 1):
    row['rank'] = rank if key(row)[0] == 0 else ''
  return rows, reference


def write_results(plan: Plan, workdir: str, rank_by: str, higher_is_better: bool) -> list[dict]:
  """results.csv and results.md in the sweep workdir (process 0), members ranked by rank_by."""
  rows, reference = results_rows(plan, workdir, rank_by, higher_is_better)
  if not distributed.is_primary():
    return rows
  first = ['rank', 'member', rank_by]
  columns = list(dict.fromkeys(first + [k for row in rows for k in row if k != 'workdir']
                               + ['workdir']))
  with open(os.path.join(workdir, RESULTS_CSV + '.tmp'), 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=columns)
    writer.writeheader()
    for row in rows:
      writer.writerow({k: _cell(row.get(k, '')) for k in columns})
  os.replace(os.path.join(workdir, RESULTS_CSV + '.tmp'), os.path.join(workdir, RESULTS_CSV))
  md_columns = [c for c in columns if c != 'workdir']
  lines = [f'# Sweep results, ranked by {rank_by} '
           f'({"higher" if higher_is_better else "lower"} is better)', '',
           'Evaluation metrics compare with validation images, never the test split: Parzen\'s '
           'σ is chosen on the first 1,000 validation images and scored on the rest. Report the '
           'chosen member\'s test number with `python -m experiments.evaluate '
           '--workdir=<member>`.', '',
           '| ' + ' | '.join(md_columns) + ' |', '|' + '---|' * len(md_columns)]
  lines += ['| ' + ' | '.join(_cell(row.get(c, '')) for c in md_columns) + ' |' for row in rows]
  if reference:
    lines += ['', 'Reference row, the same metrics on real training images in place of '
              'samples: ' + ', '.join(f'{k} {_cell(v)}' for k, v in reference.items())]
  lines += ['', f'Member workdirs are under {os.path.abspath(workdir)}/<member>; '
            f'`python -m experiments.sample --workdir=<that>` samples one.']
  writers.write_text(os.path.join(workdir, RESULTS_MD), '\n'.join(lines) + '\n')
  return rows


def _cell(value) -> str:
  if isinstance(value, float):
    return f'{value:.6g}'
  if isinstance(value, (list, tuple)):
    return ','.join(map(str, value))
  return str(value)


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


@contextlib.contextmanager
def _claimed(workdir: str, plan: Plan):
  workdir_lib.claim(workdir, (workdir_lib.SWEEP,))
  for member_dir in member_dirs(plan, workdir):
    workdir_lib.check(member_dir, (workdir_lib.RUN,))
  yield


def run(base: Config, spec_path: str, workdir: str, *, launch: str = 'local',
        group: str | None = None, results_only: bool = False, rank_by: str = 'parzen_ll',
        rank_mode: str = 'auto', eval_mode: str = 'auto', sweep_devices: int = 0,
        overwrite: bool = False, python: str = 'python') -> Plan:
  """The sweep command: plan, write the commands, train (launch=local), rank.

  Args:
    base: the base config (every member starts from it).
    spec_path: the sweep file.
    workdir: the sweep workdir; member i trains in workdir/<member name>.
    launch: 'local' trains every group here, one after the other (what running each line of
      commands.sh does, plus the ranking); 'none' only writes the files.
    group: train only this group (a population line of commands.sh), without the table.
    results_only: only evaluate what is not yet and write the results tables.
    rank_by, rank_mode: the ranking metric and its direction (auto: the metric's own).
    eval_mode: see EVAL_MODES ('auto': what rank_by needs).
    sweep_devices: size of the population mesh's sweep axis (0: chosen).
    overwrite: discard previous runs of the members instead of resuming them.
    python: the interpreter named in commands.sh.

  Returns:
    The plan.
  """
  if launch not in ('local', 'none'):
    raise ConfigError(f'--launch={launch} is not one of local, none')
  higher_is_better = rank_direction(rank_by, rank_mode)
  eval_mode = resolve_eval_mode(eval_mode, rank_by)
  plan = make_plan(base, load_spec(spec_path))
  if group is not None:
    plan.group(group)  # an unknown --group is refused before anything is written
  # Process 0 checks the sweep workdir and every member's before anything trains; if one may
  # not be used, every process stops.
  with distributed.primary_context(lambda: _claimed(workdir, plan)):
    pass
  extra = [f'--eval={eval_mode}'] + ([f'--sweep_devices={sweep_devices}'] if sweep_devices else [])
  if group is None and not results_only:
    write_plan_files(plan, workdir, spec_path, python=python, extra_sweep_args=extra)
    writers.log(f'sweep of {len(plan.members)} members in {len(plan.groups)} group(s) '
                f'({sum(g.is_population for g in plan.groups)} population(s)); commands in '
                f'{os.path.join(workdir, COMMANDS_FILE)}')
  if launch == 'none' and not results_only and group is None:
    return plan
  groups = [] if results_only else [plan.group(group)] if group else list(plan.groups)
  evaluator = make_evaluator(eval_mode, plan.base)
  for g in groups:
    start = time.perf_counter()
    train_group(g, workdir, evaluator=evaluator, eval_mode=eval_mode,
                sweep_devices=sweep_devices, overwrite=overwrite)
    writers.log(f'group {g.name} ({len(g.members)} member(s)) done in '
                f'{writers.format_duration(time.perf_counter() - start)}')
  if group is None:
    evaluate_missing(plan, workdir, evaluator=evaluator, eval_mode=eval_mode)
    distributed.barrier('sweep_evaluated')
    rows = write_results(plan, workdir, rank_by, higher_is_better)
    best = rows[0] if rows and rows[0]['rank'] == 1 else None
    writers.log(f'results in {os.path.join(workdir, RESULTS_MD)}' +
                (f'; best {best["member"]} ({rank_by} {_cell(best[rank_by])})' if best else ''))
  return plan

