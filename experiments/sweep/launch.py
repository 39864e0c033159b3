"""Launching a sweep: its plan (gan_jax.sweep.plan) as commands, trained here or by a scheduler.

`run_sweep` is what `python -m experiments.sweep` does: plan, write base.flags, commands.sh (one
command per group, one per line, for any scheduler) and sweep.json, train every group here one
after the other (launch='local'), evaluate each member and rank them (experiments.sweep.ranking).
"""

import contextlib
import json
import math
import os
import shlex
import time
from typing import Any, Callable, Sequence

from experiments.config_flags import config_from_args
from experiments.sweep import ranking
from gan_jax.base import files, log
from gan_jax.base.config import Config
from gan_jax.base.errors import ConfigError
from gan_jax.loop import members as members_lib
from gan_jax.loop import population
from gan_jax.runtime import distributed, rundir, writers
from gan_jax.runtime import workdir as workdir_lib
from gan_jax.sweep import plan as plan_lib
from gan_jax.sweep.plan import Group, Plan

# Evaluation: (gan, g_params) -> scalars; a 'real_data/' prefix marks the reference row.
Evaluator = Callable[[Any, Any], dict[str, float]]


def apply_overrides(base: Config, overrides: dict[str, Any]) -> Config:
  """`base` with a member's overrides, parsed as the same flags on the command line are."""
  return config_from_args(
    [
      *plan_lib.config_flags(base),
      *(f'--{k}={plan_lib.flag_value(v)}' for k, v in overrides.items()),
    ]
  )


def make_plan(base: Config, spec_path: str) -> Plan:
  """The plan of the sweep file `spec_path` on `base`."""
  return plan_lib.make_plan(base, plan_lib.load_spec(spec_path), apply_overrides)


def command_args(
  plan: Plan,
  workdir: str,
  spec_path: str,
  *,
  python: str = 'python',
  extra_sweep_args: Sequence[str] = (),
) -> list[list[str]]:
  """One command per group, as argv: a normal run for a lone member, a population otherwise.

  The commands read <workdir>/base.flags (write it first: write_plan_files) and use absolute
  paths, so a scheduler can run each line from anywhere, in any order or all at once.
  """
  workdir = os.path.abspath(workdir)
  base_flags = f'--flagfile={os.path.join(workdir, plan_lib.BASE_FLAGS_FILE)}'
  argvs = []
  for group in plan.groups:
    if group.is_population:
      args = [
        '-m',
        'experiments.sweep',
        base_flags,
        f'--sweep={os.path.abspath(spec_path)}',
        f'--workdir={workdir}',
        f'--group={group.name}',
        *extra_sweep_args,
      ]
    else:
      member = group.members[0]
      args = [
        '-m',
        'experiments.train',
        base_flags,
        *(f'--{k}={plan_lib.flag_value(v)}' for k, v in member.overrides.items()),
        f'--workdir={os.path.join(workdir, member.name)}',
      ]
    argvs.append([python, *args])
  return argvs


def commands(plan: Plan, workdir: str, spec_path: str, **command_args_kwargs) -> list[str]:
  """command_args as shell lines: every word quoted (shlex.quote), one command per line (no
  value holds a control character: plan_lib.check_member_name, config.check_text)."""
  return [
    ' '.join(shlex.quote(a) for a in argv)
    for argv in command_args(plan, workdir, spec_path, **command_args_kwargs)
  ]


def write_plan_files(plan: Plan, workdir: str, spec_path: str, **command_args) -> None:
  """base.flags, commands.sh and sweep.json into the sweep workdir (process 0 only)."""
  if not distributed.is_primary():
    return
  os.makedirs(workdir, exist_ok=True)
  base_flags = plan_lib.config_flags(plan.base)
  # absl reads a flagfile line by line, verbatim (no shell quoting): each value must come back
  # as it went in, or every line of commands.sh would train another config.
  if config_from_args([line.strip() for line in base_flags]) != plan.base:
    raise ConfigError(
      'the base config does not survive being written as a flagfile (a value with a line '
      'break or blank ends?); fix the base flags'
    )
  files.write_text(
    os.path.join(workdir, plan_lib.BASE_FLAGS_FILE),
    '# The base config of this sweep, every field (written by '
    'experiments.sweep).\n' + '\n'.join(base_flags) + '\n',
  )
  files.write_text(
    os.path.join(workdir, plan_lib.COMMANDS_FILE),
    '\n'.join(commands(plan, workdir, spec_path, **command_args)) + '\n',
  )
  files.write_text(
    os.path.join(workdir, plan_lib.PLAN_FILE),
    json.dumps(
      {
        'sweep': os.path.abspath(spec_path),
        'groups': [
          {
            'name': g.name,
            'population': g.is_population,
            'members': [{'name': m.name, 'overrides': m.overrides} for m in g.members],
          }
          for g in plan.groups
        ],
      },
      indent=2,
      default=str,
    )
    + '\n',
  )


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
  from gan_jax import evaluation

  num = config.eval_num_samples
  config = config.replace(eval_against='validation')
  if mode == 'full':
    eval_fn = evaluation.make_eval_fn(config, num_samples=num)
  else:
    eval_fn = evaluation.make_parzen_eval_fn(config, num_samples=num)
  return lambda gan, g_params: eval_fn(gan, g_params, 0)


def _game_for(config: Config):
  """The game of `config` for sampling: one object per structure, so every member of a
  population samples through one compiled generator."""
  from gan_jax import data

  return population.program_game(
    config,
    math.prod(data.image_shape(config.dataset)),
    num_classes=data.num_classes(config.dataset),
  )


def train_group(
  group: Group,
  workdir: str,
  *,
  evaluator: Evaluator | None,
  eval_mode: str,
  sweep_devices: int = 0,
  overwrite: bool = False,
) -> None:
  """Trains (or resumes) a group, then evaluates its members (on every process; process 0
  writes each member's sweep_eval.json)."""
  import jax

  from gan_jax.loop import lone

  dirs = [os.path.join(workdir, m.name) for m in group.members]
  configs = [m.config for m in group.members]
  if overwrite and distributed.is_primary():
    for member_dir in dirs:
      if os.path.exists(os.path.join(member_dir, ranking.EVAL_FILE)):
        os.remove(os.path.join(member_dir, ranking.EVAL_FILE))
  eval_fn = None
  if configs[0].eval_every > 0:  # evaluation during training, as experiments.train runs it
    from gan_jax import evaluation

    eval_fn = evaluation.make_eval_fn(configs[0])
  if group.is_population:
    states = population.train_population(
      configs, dirs, sweep_devices=sweep_devices, overwrite=overwrite, eval_fn=eval_fn
    )
    mesh = states.step.sharding.mesh
    finals = [members_lib.Stacked(mesh).take(states, i) for i in range(len(configs))]
  else:
    finals = [lone.train_and_evaluate(configs[0], dirs[0], overwrite=overwrite, eval_fn=eval_fn)]
  for member, member_dir, state in zip(group.members, dirs, finals):
    if rundir.failed(member_dir):
      continue
    scalars = {}
    if evaluator is not None:
      scalars = evaluator(_game_for(member.config), state.generator_params())
    ranking.record_eval(member_dir, int(jax.device_get(state.step)), eval_mode, scalars)


def evaluate_missing(
  plan: Plan, workdir: str, *, evaluator: Evaluator | None, eval_mode: str
) -> None:
  """Evaluates, from their newest checkpoints, members whose evaluation is missing or older
  (members trained by commands.sh lines run elsewhere)."""
  import jax

  from gan_jax.runtime import sampling

  for member in plan.members:
    member_dir = os.path.join(workdir, member.name)
    latest = _latest_step(member_dir)
    done = ranking.read_eval(member_dir)
    if (
      latest is None
      or rundir.failed(member_dir)
      or (done and done.get('step') == latest and done.get('eval') == eval_mode)
    ):
      continue
    if jax.process_count() > 1:  # restoring onto one host's devices is a one-process job
      log.info(
        f'{member_dir} has no evaluation of step {latest}; run the sweep command '
        'with --results_only as one process to add it'
      )
      continue
    restored = sampling.restore(member_dir)
    scalars = evaluator(restored.gan, restored.g_params) if evaluator else {}
    ranking.record_eval(member_dir, restored.step, eval_mode, scalars)


def _latest_step(member_dir: str) -> int | None:
  """The newest committed checkpoint step (orbax renames a step's temporary directory to the
  bare step number when the write commits), read without orbax."""
  directory = rundir.checkpoints_dir(member_dir)
  if not os.path.isdir(directory):
    return None
  steps = [int(n) for n in os.listdir(directory) if n.isdigit()]
  return max(steps) if steps else None


@contextlib.contextmanager
def _claimed(workdir: str, plan: Plan):
  workdir_lib.claim(workdir, (workdir_lib.SWEEP,))
  for member_dir in plan_lib.member_dirs(plan, workdir):
    workdir_lib.check(member_dir, (workdir_lib.RUN,))
  yield


def run_sweep(
  base: Config,
  spec_path: str,
  workdir: str,
  *,
  launch: str = 'local',
  group: str | None = None,
  results_only: bool = False,
  rank_by: str = 'parzen_ll',
  rank_mode: str = 'auto',
  eval_mode: str = 'auto',
  gates: str = '',
  sweep_devices: int = 0,
  overwrite: bool = False,
  python: str = 'python',
) -> Plan:
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
    eval_mode: see ranking.EVAL_MODES ('auto': what rank_by and the gates need).
    gates: conditions a member must meet to be ranked ahead of those that do not
      (gan_jax.evaluation.gates, e.g. 'frechet_distance<=16.5,nn_median_l2>=real_data').
    sweep_devices: size of the population mesh's sweep axis (0: chosen).
    overwrite: discard previous runs of the members instead of resuming them.
    python: the interpreter named in commands.sh.

  Returns:
    The plan.
  """
  if launch not in ('local', 'none'):
    raise ConfigError(f'--launch={launch} is not one of local, none')
  higher_is_better = ranking.rank_direction(rank_by, rank_mode)
  gate_list = ranking.parse_gates(gates)
  eval_mode = ranking.resolve_eval_mode(eval_mode, rank_by, gate_list)
  plan = make_plan(base, spec_path)
  if eval_mode != 'none':  # every member is evaluated at the end: refused now, not then
    from gan_jax import data
    from gan_jax.runtime import resources

    num = plan.base.eval_num_samples
    resources.check_evaluation(
      f'--eval_num_samples={num}', num, data.image_shape(plan.base.dataset)
    )
  if group is not None:
    plan.group(group)  # an unknown --group is refused before anything is written
  # Process 0 checks the sweep workdir and every member's before anything trains; if one may
  # not be used, every process stops.
  with distributed.primary_context(lambda: _claimed(workdir, plan)):
    pass
  # What a population line needs to do what this command would: its ranking flags too (a line
  # with --eval=none but the default --rank_by=parzen_ll is refused).
  extra = [f'--eval={eval_mode}', f'--rank_by={rank_by}', f'--rank_mode={rank_mode}']
  extra += [f'--sweep_devices={sweep_devices}'] if sweep_devices else []
  extra += [f'--gates={gates}'] if gate_list else []
  if group is None and not results_only:
    write_plan_files(plan, workdir, spec_path, python=python, extra_sweep_args=extra)
    log.info(
      f'sweep of {len(plan.members)} members in {len(plan.groups)} group(s) '
      f'({sum(g.is_population for g in plan.groups)} population(s)); commands in '
      f'{os.path.join(workdir, plan_lib.COMMANDS_FILE)}'
    )
  if launch == 'none' and not results_only and group is None:
    return plan
  groups = [] if results_only else [plan.group(group)] if group else list(plan.groups)
  evaluator = make_evaluator(eval_mode, plan.base)
  for g in groups:
    start = time.perf_counter()
    train_group(
      g,
      workdir,
      evaluator=evaluator,
      eval_mode=eval_mode,
      sweep_devices=sweep_devices,
      overwrite=overwrite,
    )
    log.info(
      f'group {g.name} ({len(g.members)} member(s)) done in '
      f'{writers.format_duration(time.perf_counter() - start)}'
    )
  if group is None:
    evaluate_missing(plan, workdir, evaluator=evaluator, eval_mode=eval_mode)
    distributed.barrier('sweep_evaluated')
    rows = ranking.write_results(plan, workdir, rank_by, higher_is_better, gate_list)
    best = rows[0] if rows and rows[0]['rank'] == 1 else None
    log.info(
      f'results in {os.path.join(workdir, plan_lib.RESULTS_MD)}'
      + (f'; best {best["member"]} ({rank_by} {ranking.cell(best[rank_by])})' if best else '')
    )
  return plan
