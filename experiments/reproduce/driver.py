"""Runs a reproduction plan step by step, and resumes it where it stopped.

Each step is a command of the project's own entry points (experiments.train, sweep, evaluate,
toy1d), run as a subprocess and recorded in <runs_dir>/reproduce.json with its command, exit
status, wall time and the machine's load around it. Run the same command again after an
interruption: finished steps are skipped, and an interrupted training run resumes from its last
checkpoint (each entry point resumes by itself), bit for bit.

The checkpoint reported for each run is chosen on validation images (the evaluation logged every
eval_every steps); only that one is then scored on the test split, once, with samples of its own
seed (TEST_SEED), so no luck of the validation samples carries into the test number.

Before the first step, every data set the plan reads is checked (one line names a missing one
and the command that installs it; nothing runs), and the sizes of its splits and of the
validation protocol are recorded, for the report to state. Each attempt of a step records its
start before the step starts and its wall time every HEARTBEAT_S seconds while it runs, so a
driver killed outright (SIGKILL) still leaves the time its step ran, to the last heartbeat.
"""

import datetime
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time

from experiments.reproduce import plan as plan_lib
from gan_jax.base import files, log
from gan_jax.base.errors import Interrupted, UserError
from gan_jax.evaluation import protocol
from gan_jax.runtime import rundir, writers


class StepInterrupted(Interrupted):
  """SIGTERM/SIGINT while a step ran: the step stopped cleanly; the same command resumes."""

  def __init__(self, key: str, signal_number: int):
    super().__init__(signal.Signals(signal_number).name, signal_number, 0)
    self.args = (
      f'stopped by {signal.Signals(signal_number).name} during {key}; run the same '
      'command to resume',
    )


STATE_FILE = 'reproduce.json'
TEST_EVAL_DIR = 'test_eval'
# The test evaluation of a run's average of G, where it keeps one beside the G it reports.
AVERAGE_TEST_EVAL_DIR = 'test_eval_average'
VALIDATION_EVAL_DIR = 'validation_eval'
SELECT_BY = 'eval/parzen_ll'  # validation Parzen log-likelihood, higher is better
# The validation evaluations during training draw their samples with EVAL_SEED
# (gan_jax.evaluation.protocol); the test evaluation of the chosen checkpoint draws others.
VALIDATION_SEED = protocol.EVAL_SEED
TEST_SEED = VALIDATION_SEED + 1
HEARTBEAT_S = 10.0
DIED = 'lost: the driver died during it (SIGKILL?); its time counts to the last heartbeat'
# The same for the raw G of a run that keeps an average (its eval/ rows are the average's).
SELECT_RAW_BY = 'eval_raw/parzen_ll'
# A recipe that is not the paper's own is chosen only among checkpoints whose samples sit no
# closer to the training images than held-out images do: Parzen rewards copies and blur.
FAST_SELECTION_GATES = 'nn_median_l2>=real_data'
# The record of a gated choice that found no evaluated checkpoint passing its gates.
NO_CHECKPOINT_PASSES = 'no evaluated checkpoint passes the gates'


def machine() -> dict:
  """The machine, as results cite it."""
  model = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      model = next(
        (line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), model
      )
  except OSError:
    pass
  return {
    'cpu': model,
    'cores': os.cpu_count(),
    'gpus': _gpus(),
    'platform': platform.platform(),
    'python': platform.python_version(),
  }


def _gpus() -> list[str]:
  """The NVIDIA GPUs' names, from nvidia-smi (asking JAX would claim the GPUs' memory here)."""
  try:
    out = subprocess.run(
      ['nvidia-smi', '--query-gpu=name', '--format=csv,noheader'],
      capture_output=True,
      text=True,
      timeout=30,
    )
  except (OSError, subprocess.SubprocessError):
    return []
  return (
    [line.strip() for line in out.stdout.splitlines() if line.strip()] if not out.returncode else []
  )


def check_data(budget: plan_lib.Budget) -> dict[str, list[str]]:
  """Raises UserError, naming the data set and the command that installs it, unless every data
  set the budget reads is here; reads and writes nothing. Returns the data sets and their steps."""
  from gan_jax.data import loader

  needs = plan_lib.datasets(budget)
  for name, steps in needs.items():
    try:
      loader.check_available(name)
    except UserError:
      shown = ', '.join(steps[:3]) + (', ...' if len(steps) > 3 else '')
      raise UserError(
        f'reproduce needs the data set {name} (for {shown}) and it is not installed here: '
        f'install it with `{loader.INSTALL[name]}` (`make install` does), then run the same '
        'command; nothing has run'
      ) from None
  return needs


def data_sizes(name: str) -> dict:
  """The sizes a report states: each split's, and the validation protocol's (σ chosen on the
  first images of validation, the score on the rest), as the library computes them."""
  from gan_jax import data
  from gan_jax.data import loader

  sizes = {split: data.load_split(name, split).num_examples for split in data.SPLITS}
  selection, _, held_out, _ = protocol.held_out_sets(name, 'validation')
  sizes['validation_sigma'], sizes['validation_scored'] = len(selection), len(held_out)
  loader.clear_cache()  # the steps read the data themselves; the driver keeps none of it
  return sizes


def git_commit() -> str:
  """HEAD, with '+dirty' if tracked files differ from it."""

  def git(*args):
    return subprocess.run(['git', *args], capture_output=True, text=True).stdout.strip()

  commit = git('rev-parse', 'HEAD') or 'unknown'
  dirty = git('status', '--porcelain', '--untracked-files=no')
  return commit + ('+dirty' if dirty else '')


class Driver:
  """Executes steps once each, recording them in <runs_dir>/reproduce.json."""

  def __init__(self, budget: plan_lib.Budget, runs_dir: str):
    self.budget = budget
    self.runs_dir = runs_dir
    self.path = os.path.join(runs_dir, STATE_FILE)
    os.makedirs(runs_dir, exist_ok=True)
    self.state = self._load_state()

  def _load_state(self) -> dict:
    if os.path.exists(self.path):
      try:
        with open(self.path) as f:
          state = json.load(f)
      except (OSError, ValueError) as e:
        raise UserError(
          f'{self.path} is unreadable ({e}); delete it to start the record anew '
          '(finished runs then resume from their checkpoints)'
        ) from None
      if state.get('budget') != self.budget.name:
        raise UserError(
          f'{self.runs_dir} holds a reproduction with budget '
          f'{state.get("budget")!r}, not {self.budget.name!r}; pass another '
          '--runs_dir or the same budget'
        )
      for entry in state.get('steps', {}).values():
        if entry.get('status') == 'running':  # the driver that ran it died (one per runs_dir)
          entry['status'] = 'interrupted (the driver died)'
          for attempt in entry.get('attempt_log', []):
            if attempt.get('result') == 'running':
              attempt['result'] = DIED
      return state
    return {'budget': self.budget.name, 'started': _now(), 'machine': machine(), 'steps': {}}

  def _save(self) -> None:
    files.write_json(self.path, self.state)

  def done(self, key: str, signature: str = '') -> bool:
    step = self.state['steps'].get(key)
    return bool(step and step.get('status') == 'done' and step.get('signature') == signature)

  def record(self, key: str) -> dict:
    return self.state['steps'].get(key, {})

  def run_step(self, key: str, command: list[str], *, signature: str = '', **extra) -> None:
    """Runs `command` unless `key` is done with this signature; raises UserError on failure."""
    if self.done(key, signature):
      return
    entry = self.state['steps'].setdefault(key, {'wall_s': 0.0, 'attempts': 0})
    entry.update(
      command=shlex.join(['python', *command[1:]]),
      signature=signature,
      status='running',
      commit=git_commit(),
      **extra,
    )
    entry['attempts'] += 1
    entry['load_before'] = os.getloadavg()[0]
    # The attempt is on record before the step starts, and its time at every heartbeat: a driver
    # killed outright leaves the time its step ran (to the last heartbeat), not nothing.
    attempt = {'started': _now(), 'wall_s': 0.0, 'result': 'running'}
    entry.setdefault('attempt_log', []).append(attempt)
    before = entry['wall_s']
    self._save()
    log.info(f'reproduce: {key}: {entry["command"]}')
    start = time.perf_counter()

    def clock() -> None:
      # Milliseconds: a step stopped by a signal soon after its start still records its time.
      attempt['wall_s'] = round(time.perf_counter() - start, 3)
      entry['wall_s'] = round(before + attempt['wall_s'], 3)

    env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
    child = subprocess.Popen(command, env=env)
    received = []

    def forward(signum, frame):
      # The step checkpoints and stops by itself (its own handler); the driver waits for it,
      # so the wall time is recorded and nothing is killed half-way.
      del frame
      received.append(signum)
      child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
      while True:
        try:
          code = child.wait(timeout=HEARTBEAT_S)
          break
        except subprocess.TimeoutExpired:
          clock()
          self._save()
    finally:
      for s, handler in previous.items():
        signal.signal(s, handler)
      clock()
      attempt['result'] = 'stopped'  # until the outcome below is known
      entry['load_after'] = os.getloadavg()[0]
      entry['finished'] = _now()
      self._save()
    if received:
      entry['status'] = attempt['result'] = 'interrupted'
      self._save()
      raise StepInterrupted(key, received[0])
    if code != 0:
      entry['status'] = attempt['result'] = f'failed (exit {code})'
      self._save()
      raise UserError(
        f'reproduce step {key} failed with exit code {code}; fix the cause and '
        'run the same command to resume'
      )
    entry['status'] = attempt['result'] = 'done'
    self._save()


def select_step(workdir: str, key: str = SELECT_BY, gates: str = '') -> tuple[int, float] | None:
  """The evaluated step with the best validation `key` whose checkpoint exists, among those that
  pass `gates` (gan_jax.evaluation.gates, read from the same evaluation's metrics and reference
  row), or None.
  """
  from gan_jax.evaluation import gates as gates_lib

  directory = rundir.checkpoints_dir(workdir)
  saved = (
    {int(n) for n in os.listdir(directory) if n.isdigit()} if os.path.isdir(directory) else set()
  )
  prefix = key.rsplit('/', 1)[0] + '/'
  parsed = gates_lib.parse(gates)
  best = None
  for row in writers.read_metrics(workdir):
    if key not in row or row['step'] not in saved:
      continue
    scalars = {k[len(prefix) :]: v for k, v in row.items() if k.startswith(prefix)}
    reference = {
      k[len('real_data/') :]: v for k, v in scalars.items() if k.startswith('real_data/')
    }
    if gates_lib.check(parsed, scalars, reference):
      continue
    if best is None or row[key] > best[1]:
      best = (row['step'], row[key])
  return best


# Evaluation steps pass --overwrite: a step runs again only when what it scores changed (another
# checkpoint was chosen, or the last attempt failed), and then its report must be replaced.


def module(name: str, *flags: str) -> list[str]:
  return [sys.executable, '-m', name, *flags]


def train(driver: Driver, run: plan_lib.Run) -> None:
  workdir = os.path.join(driver.runs_dir, run.name)
  flags = run.flags(driver.budget)
  driver.run_step(
    f'train/{run.name}',
    module('experiments.train', *flags, f'--workdir={workdir}'),
    signature=' '.join(flags),
    part=run.part,
    seed=run.seed,
    num_steps=run.num_steps,
  )


def population_members_file(driver: Driver, runs: list[plan_lib.Run]) -> str:
  """Writes the sweep file of a population of seeds: one member per run, named as the run's
  directory, so the sweep's member directories are the runs' own."""
  group = os.path.dirname(runs[0].name)
  path = os.path.join(driver.runs_dir, f'{group.replace("/", "_")}_population.py')
  members = [{'name': os.path.basename(r.name), 'seed': r.seed} for r in runs]
  files.write_text(
    path,
    f'# Generated by experiments.reproduce: the seeds of {group}.\n\n\n'
    f'def sweep():\n  return {members!r}\n',
  )
  return path


def train_population(driver: Driver, runs: list[plan_lib.Run]) -> None:
  """Trains runs that differ only in their seed as one vmapped population (experiments.sweep):
  on an accelerator, several small models in one program run nearly as fast as one."""
  group = os.path.dirname(runs[0].name)
  flags = [f for f in runs[0].flags(driver.budget) if not f.startswith('--seed=')]
  members = population_members_file(driver, runs)
  driver.run_step(
    f'train/{group}',
    module(
      'experiments.sweep',
      *flags,
      f'--sweep={members}',
      f'--workdir={os.path.join(driver.runs_dir, group)}',
      '--eval=none',
      '--rank_by=d_loss',
      '--rank_mode=min',
    ),
    signature=' '.join(flags + [str(r.seed) for r in runs]),
    part=runs[0].part,
    seed=','.join(str(r.seed) for r in runs),
    num_steps=runs[0].num_steps,
  )


def choose_and_test(driver: Driver, run: plan_lib.Run) -> None:
  """Picks a trained run's checkpoint on validation and scores that one on test, once."""
  workdir = os.path.join(driver.runs_dir, run.name)
  if run.part.startswith('ablation/'):
    return  # ablations compare validation metrics at equal steps; no checkpoint is chosen
  if run.part == 'quickstart':
    # The same validation images and classifier as the Table 1 runs' curves, so the two
    # recipes compare at equal steps in one feature space.
    driver.run_step(
      f'validation/{run.name}',
      module(
        'experiments.evaluate',
        '--overwrite',
        f'--workdir={workdir}',
        f'--dataset={plan_lib.QUICKSTART_EVAL_DATASET}',
        '--against=validation',
        f'--num_samples={driver.budget.eval_num_samples}',
        f'--out_dir={os.path.join(workdir, VALIDATION_EVAL_DIR)}',
        '--nomemorisation',
      ),
      signature=f'step {run.num_steps}',
    )
    return
  averaged = dict(run.overrides).get('g_ema_decay', 0) > 0
  # The conditional rows are chosen under the gate the fast recipe's are (samples no closer to
  # the training set than held-out images).
  gates = FAST_SELECTION_GATES if run.part.startswith('cgan') else ''
  if averaged:  # the run's own G is its row; its average is another row, chosen on its own
    test_chosen(
      driver, run, f'test/{run.name}', SELECT_RAW_BY, TEST_EVAL_DIR, raw=True, gates=gates
    )
    test_chosen(
      driver, run, f'test_average/{run.name}', SELECT_BY, AVERAGE_TEST_EVAL_DIR, gates=gates
    )
  else:
    gates = FAST_SELECTION_GATES if run.part == 'table1_fast' else ''
    test_chosen(driver, run, f'test/{run.name}', SELECT_BY, TEST_EVAL_DIR, gates=gates)


def test_chosen(
  driver: Driver,
  run: plan_lib.Run,
  key: str,
  select_by: str,
  out: str,
  *,
  raw: bool = False,
  gates: str = '',
) -> None:
  """Scores on test, once, the checkpoint of `run` with the best validation `select_by` among
  those passing `gates`; `raw`: G itself, not the average the run keeps."""
  workdir = os.path.join(driver.runs_dir, run.name)
  chosen = select_step(workdir, select_by, gates)
  if chosen is None and run.part.startswith('cgan') and select_step(workdir, select_by):
    # Beyond the paper, a G that never passes its gates is a result in its own right: recorded
    # and reported, and the reproduction goes on (Table 1's rows must exist: there it stops).
    driver.state['steps'][key] = {
      'status': NO_CHECKPOINT_PASSES,
      'selected_by': f'{select_by} with {gates}',
      'command': f'(none: no checkpoint of {run.name} passes {gates})',
      'commit': git_commit(),
      'wall_s': 0.0,
      'attempts': 0,
      'finished': _now(),
    }
    driver._save()
    return
  if chosen is None:
    raise UserError(
      f'{workdir} has no evaluated checkpoint to choose from'
      + (f' that passes {gates}' if gates else '')
      + '; delete it and run the same command to train it again'
    )
  step, validation_ll = chosen
  driver.run_step(
    key,
    module(
      'experiments.evaluate',
      '--overwrite',
      f'--workdir={workdir}',
      f'--step={step}',
      '--against=test',
      f'--num_samples={driver.budget.eval_num_samples}',
      f'--seed={TEST_SEED}',
      f'--out_dir={os.path.join(workdir, out)}',
      *(['--raw_generator'] if raw else []),
    ),
    signature=f'step {step} seed {TEST_SEED}' + (' raw' if raw else ''),
    chosen_step=step,
    validation_parzen_ll=validation_ll,
    selected_by=select_by + (f' with {gates}' if gates else ''),
    validation_seed=VALIDATION_SEED,
    test_seed=TEST_SEED,
  )


def train_part(driver: Driver, runs: list[plan_lib.Run]) -> None:
  """Trains the seeds of one part (alone, or as a population if the budget says so), then
  chooses and tests each."""
  if driver.budget.populations and len(runs) > 1:
    train_population(driver, runs)
  else:
    for run in runs:
      train(driver, run)
  for run in runs:
    choose_and_test(driver, run)


def sweep(driver: Driver) -> None:
  """The recipe sweep; its best member (on validation) is scored on test once."""
  workdir = os.path.join(driver.runs_dir, 'sweep')
  flags = plan_lib.sweep_flags(driver.budget)
  driver.run_step(
    'sweep', module('experiments.sweep', *flags, f'--workdir={workdir}'), signature=' '.join(flags)
  )
  best = None
  for member in sorted(os.listdir(workdir)):
    chosen = select_step(os.path.join(workdir, member))
    if chosen and (best is None or chosen[1] > best[2]):
      best = (member, *chosen)
  if best is None:
    raise UserError(f'{workdir}: no member has an evaluated checkpoint; delete it and rerun')
  member, step, validation_ll = best
  member_dir = os.path.join(workdir, member)
  driver.run_step(
    'test/sweep_best',
    module(
      'experiments.evaluate',
      '--overwrite',
      f'--workdir={member_dir}',
      f'--step={step}',
      '--against=test',
      f'--num_samples={driver.budget.eval_num_samples}',
      f'--seed={TEST_SEED}',
      f'--out_dir={os.path.join(member_dir, TEST_EVAL_DIR)}',
      '--nomemorisation',
      '--nofigures',
    ),
    signature=f'{member} step {step} seed {TEST_SEED}',
    member=member,
    chosen_step=step,
    validation_parzen_ll=validation_ll,
    validation_seed=VALIDATION_SEED,
    test_seed=TEST_SEED,
  )


def toy1d(driver: Driver) -> None:
  """Figure 1 and the theory numbers (Proposition 1, Theorem 1, saturation), in 1-D."""
  workdir = os.path.join(driver.runs_dir, 'toy1d')
  for experiment, args in driver.budget.toy1d:
    flags = [f'--experiment={experiment}', *args]
    driver.run_step(
      f'toy1d/{experiment}',
      module('experiments.toy1d', *flags, f'--workdir={workdir}'),
      signature=' '.join(flags),
    )


def reproduce(budget: plan_lib.Budget, runs_dir: str) -> Driver:
  """Runs every step of the budget not yet done, part by part (plan.PARTS): the Table 1 runs
  first (the paper recipe with its average, then the fast recipe: the main result), then
  Fashion-MNIST, the recipe sweep, the 1-D experiment, the quick-start comparison and the
  ablations (the longest part, last). Every data set is checked before anything runs."""
  needs = check_data(budget)
  driver = Driver(budget, runs_dir)
  sizes = driver.state.setdefault('data', {})
  for name in needs:
    if name not in sizes:
      sizes[name] = data_sizes(name)
      driver._save()
  runs = plan_lib.runs(budget)
  for part in budget.parts:
    if part == 'sweep':
      sweep(driver)
    elif part == 'toy1d':
      toy1d(driver)
    elif part == 'ablations':
      for name, _, _ in plan_lib.ABLATIONS:
        train_part(driver, [r for r in runs if r.part == f'ablation/{name}'])
    else:
      train_part(driver, [r for r in runs if r.part == part])
  driver.state['finished'] = _now()
  driver._save()
  return driver


def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
