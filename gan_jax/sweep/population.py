"""A population: runs that differ only in numbers, trained as one vmapped computation.

Members share the networks, the data and the code of a step; what differs between them (the
seed and the optimisers' numeric hyperparameters) lives in the state, so their states stack
along a leading axis and one `vmap` of `steps.train_steps` steps them all. The stacked axis is
sharded over the `sweep` axis of a 2-D ('sweep', 'data') mesh: each group of devices trains its
own members, data-parallel within the group.

Each member keeps the outputs of a normal run in its own workdir (checkpoints with its own
Config, config.json, metrics.jsonl, samples/), so sampling.restore reads a member alone
and a population resumes every member.
"""

import contextlib
import functools
import math
import os
import signal
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gan_jax.runtime import checkpoint
from gan_jax.runtime import distributed
from gan_jax.runtime import images
from gan_jax.game import optim
from gan_jax.runtime import parallel
from gan_jax.game import steps
from gan_jax.loop import train
from gan_jax.runtime import workdir as workdir_lib
from gan_jax.runtime import writers
from gan_jax.runtime.config import CHECKPOINT_FIELDS, Config
from gan_jax.runtime.errors import CheckpointError, ConfigError, Interrupted
from gan_jax.game.state import GAN, TrainState, build_gan, create_train_state

SWEEP_AXIS = 'sweep'
DATA_AXIS = parallel.DATA_AXIS
# Config fields that only change numbers held in the state (the seed of the initial state, the
# optimisers' hyperparameters in their states): members may differ in these and still share
# one compiled step. Any other field changes shapes or code and makes a separate run.
NUMERIC_FIELDS = ('seed', 'learning_rate', 'd_learning_rate', 'lr_decay', 'min_learning_rate',
                  'momentum', 'final_momentum', 'momentum_saturate_epoch', 'adam_b1', 'adam_b2')
# Written into a member's workdir when its losses or parameters become NaN/inf; the member is
# then left out of checkpoints, logs and the ranking, and the others train on.
FAILED_FILE = 'FAILED'


def structure(config: Config) -> Config:
  """`config` with its numeric fields at their defaults: equal for members of one population."""
  defaults = Config()
  return config.replace(**{name: getattr(defaults, name) for name in NUMERIC_FIELDS})


def check_members(configs: Sequence[Config]) -> None:
  """Raises ConfigError naming the first non-numeric field in which two members differ."""
  if not configs:
    raise ConfigError('a population needs at least one member')
  first = configs[0]
  for i, config in enumerate(configs[1:], 1):
    differ = [f for f in first.to_dict() if f not in NUMERIC_FIELDS
              and getattr(first, f) != getattr(config, f)]
    if differ:
      raise ConfigError(f'members 0 and {i} differ in --{differ[0]} ({getattr(first, differ[0])!r} '
                        f'vs {getattr(config, differ[0])!r}), which changes shapes or code; a '
                        f'population may only differ in {", ".join(NUMERIC_FIELDS)}')


def make_mesh(num_members: int, sweep_devices: int = 0, devices=None) -> Mesh:
  """A ('sweep', 'data') mesh: `sweep_devices` groups, each training num_members / groups.

  Args:
    num_members: the population size.
    sweep_devices: size of the sweep axis; 0 picks gcd(num_members, number of devices), the
      most groups that split both evenly.
    devices: default every device of every process. In jax.devices() order a host's devices
      are adjacent, so with at least as many groups as hosts each group's all-reduce stays
      on one host.

  Raises:
    ConfigError: the sweep axis does not divide both the devices and the population.
  """
  devices = jax.devices() if devices is None else list(devices)
  n = len(devices)
  s = sweep_devices or math.gcd(num_members, n)
  if s <= 0 or n % s or num_members % s:
    raise ConfigError(f'--sweep_devices={s} must divide both the number of devices ({n}) and '
                      f'the population size ({num_members}); use {math.gcd(num_members, n)} '
                      '(or 0 to choose)')
  return Mesh(np.asarray(devices).reshape(s, n // s), (SWEEP_AXIS, DATA_AXIS))


def members_sharded(mesh: Mesh) -> NamedSharding:
  """Leading (member) axis split over the sweep axis."""
  return NamedSharding(mesh, P(SWEEP_AXIS))


def _hparams_field(opt_state) -> str:
  if isinstance(opt_state, optim.PaperSGDState):
    return 'hparams'
  if hasattr(opt_state, 'hyperparams'):  # optax.inject_hyperparams
    return 'hyperparams'
  raise TypeError(f'{type(opt_state).__name__} keeps no hyperparameters in its state')


def member_hparams(gan: GAN) -> tuple[dict, dict]:
  """The numeric hyperparameters a member's optimisers put in their states (G's, D's)."""
  # Initialising on an empty tree yields just the hyperparameters, without touching the params.
  g, d = gan.g_tx.init({}), gan.d_tx.init({})
  return getattr(g, _hparams_field(g)), getattr(d, _hparams_field(d))


def _with_hparams(opt_state, hparams):
  return opt_state._replace(**{_hparams_field(opt_state): hparams})


def _stack(trees):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def init_population(exp: train.Experiment, configs: Sequence[Config]) -> TrainState:
  """The members' initial states, stacked [M, ...] and sharded over the sweep axis.

  Member i's state equals create_train_state(build_gan(configs[i]), configs[i].seed, bias):
  the same random draws (a vmap of threefry draws what each key draws alone) and its own
  hyperparameters in the optimiser states.
  """
  keys = jnp.stack([jax.random.PRNGKey(c.seed) for c in configs])
  data_dim, num_train = exp.gan.generator.output_dim, exp.train_images.shape[0]
  games = [build_gan(c, data_dim=data_dim, num_train=num_train) for c in configs]
  g_hparams, d_hparams = (_stack(h) for h in zip(*(member_hparams(g) for g in games)))
  init = _compiled_init(program_game(configs[0], data_dim, num_train), exp.mesh)
  return init(keys, g_hparams, d_hparams, exp.output_bias)


def program_game(config: Config, data_dim: int, num_train: int) -> GAN:
  """One GAN object per program: what `config`'s shapes and code are, not its numbers.

  The optimisers read every number from their states (optim.py), so any member's game traces
  the same program; sharing the object lets a process that trains the same structure again (a
  resume, the next group of a sweep, a benchmark) reuse the compiled functions below.
  """
  key = tuple((f, getattr(config, f)) for f in CHECKPOINT_FIELDS if f not in NUMERIC_FIELDS)
  return _program_game(key, data_dim, num_train)


@functools.lru_cache(maxsize=16)
def _program_game(key, data_dim: int, num_train: int) -> GAN:
  return build_gan(Config(**dict(key)), data_dim=data_dim, num_train=num_train)


@functools.lru_cache(maxsize=16)
def _compiled_init(gan: GAN, mesh: Mesh):
  def init(key, g_h, d_h, bias):
    state = create_train_state(gan, key, bias)
    return state.replace(g_opt_state=_with_hparams(state.g_opt_state, g_h),
                         d_opt_state=_with_hparams(state.d_opt_state, d_h))

  return jax.jit(jax.vmap(init, in_axes=(0, 0, 0, None)), out_shardings=members_sharded(mesh))


@functools.lru_cache(maxsize=16)
def _compiled_generate(gan: GAN, mesh: Mesh):
  """G of every member on its own noise, [M, N, data_dim], replicated: every process reads it."""
  return jax.jit(jax.vmap(gan.generate), out_shardings=parallel.replicated(mesh))


@functools.lru_cache(maxsize=64)
def _compiled_steps(gan: GAN, mesh: Mesh, num_steps: int):
  return compile_population_steps(gan, mesh, num_steps)


def compile_population_steps(gan: GAN, mesh: Mesh, num_steps: int):
  """jit of vmap(steps.train_steps) over the members, on a ('sweep', 'data') mesh.

  Returns f(states, data) -> (states, metrics): states stacked [M, ...] and sharded over the
  sweep axis, the data replicated and shared by every member (each draws its own batches from
  its own rng), metrics [M, num_steps] replicated. The buffers of the first argument (the
  states) are donated.
  """
  batch = NamedSharding(mesh, P(DATA_AXIS))
  # Inside the vmap a per-member batch is split over 'data'; spmd_axis_name adds the member
  # axis over 'sweep' to every such constraint.
  constrain = lambda x: jax.lax.with_sharding_constraint(x, batch)
  fn = jax.vmap(functools.partial(steps.train_steps, gan=gan, num_steps=num_steps,
                                  constrain=constrain),
                in_axes=(0, None), spmd_axis_name=SWEEP_AXIS)
  return jax.jit(fn, in_shardings=(members_sharded(mesh), parallel.replicated(mesh)),
                 out_shardings=(members_sharded(mesh), parallel.replicated(mesh)),
                 donate_argnums=0)


def take_member(states: TrainState, index: int, mesh: Mesh) -> TrainState:
  """Member `index` of the stacked states, replicated on every device: a normal run's state."""
  return _taker(mesh)(states, jnp.int32(index))


@functools.lru_cache(maxsize=None)
def _taker(mesh: Mesh):
  return jax.jit(lambda states, i: jax.tree.map(lambda x: x[i], states),
                 out_shardings=parallel.replicated(mesh))


def _finite_members(states: TrainState) -> jax.Array:
  def finite(state):
    leaves = jax.tree.leaves((state.g_params, state.d_params))
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
  return jax.vmap(finite)(states)


def train_population(configs: Sequence[Config], workdirs: Sequence[str], *,
                     sweep_devices: int = 0, overwrite: bool = False,
                     eval_fn: train.EvalFn | None = None, devices=None) -> TrainState:
  """Trains (or resumes) the members `configs`, member i in `workdirs[i]`, as one population.

  Args:
    configs: the members; they may differ only in NUMERIC_FIELDS.
    workdirs: one per member; each gets what a normal run writes (see train_and_evaluate).
    sweep_devices: size of the sweep mesh axis (0: chosen, see make_mesh).
    overwrite: discard previous runs in the workdirs instead of resuming them.
    eval_fn: as train_and_evaluate's, called for each live member every eval_every steps.
    devices: default every device of every process.

  Returns:
    The final states, stacked [M, ...] and sharded over the sweep axis.
  """
  configs = [c.validate() for c in configs]
  if len(workdirs) != len(configs) or len(set(map(os.path.abspath, workdirs))) != len(configs):
    raise ConfigError(f'a population of {len(configs)} needs as many distinct workdirs, got '
                      f'{list(workdirs)}')
  check_members(configs)
  mesh = make_mesh(len(configs), sweep_devices, devices)
  exp = train.setup(configs[0], mesh)

  def claim_all() -> contextlib.ExitStack:
    for workdir in workdirs:  # every member's directory is checked before any is cleared
      workdir_lib.check(workdir, (workdir_lib.RUN,))
    with contextlib.ExitStack() as stack:
      for workdir in workdirs:
        stack.enter_context(workdir_lib.run_directory(workdir, overwrite=overwrite))
      return stack.pop_all()

  with distributed.primary_context(claim_all):
    if overwrite and distributed.is_primary():
      for workdir in workdirs:
        if os.path.exists(os.path.join(workdir, FAILED_FILE)):
          os.remove(os.path.join(workdir, FAILED_FILE))
    distributed.barrier('population_workdirs_ready')
    return _train(exp, list(configs), list(workdirs), eval_fn)


def _resume_step(ckpts, live) -> int:
  """The newest step every live member has a checkpoint of (0: none has one)."""
  have = [set(c.all_steps()) for c, ok in zip(ckpts, live) if ok]
  if not any(have):
    return 0
  common = set.intersection(*have)
  if not common:
    where = [c.directory for c, ok in zip(ckpts, live) if ok]
    raise CheckpointError(f'the members\' checkpoints ({", ".join(where)}) share no step, so '
                          'the population cannot resume as one; use --overwrite or a new workdir')
  return max(common)


def _train(exp: train.Experiment, configs: list[Config], workdirs: list[str],
           eval_fn: train.EvalFn | None) -> TrainState:
  template, mesh = configs[0], exp.mesh
  gan = program_game(template, exp.gan.generator.output_dim, exp.train_images.shape[0])
  primary = distributed.is_primary()
  num = len(configs)
  failed = [os.path.exists(os.path.join(w, FAILED_FILE)) for w in workdirs]
  states = init_population(exp, configs)
  ckpts = [checkpoint.Checkpointer(w, max_to_keep=c.keep_checkpoints)
           for w, c in zip(workdirs, configs)]
  step = _resume_step(ckpts, [not f for f in failed])
  if step > template.num_steps:
    for ckpt in ckpts:
      ckpt.close()
    raise ConfigError(f'--num_steps={template.num_steps} is below step {step} of the members\' '
                      'checkpoints; pass a larger --num_steps to continue, or --overwrite')
  if step:
    abstract = checkpoint.abstract_like(take_member(states, 0, mesh), parallel.replicated(mesh))
    restored = []
    for i, ckpt in enumerate(ckpts):
      if failed[i]:  # never saved again: any state does
        restored.append(take_member(states, i, mesh))
        continue
      member, _, _ = ckpt.restore(abstract, step, expect=configs[i], quarantine=primary)
      restored.append(member)
    states = jax.jit(lambda *s: _stack(s), out_shardings=members_sharded(mesh))(*restored)
    writers.log(f'resumed {num} members from step {step}')
  if primary:
    for workdir, config in zip(workdirs, configs):
      writers.write_json(os.path.join(workdir, train.CONFIG_FILE), config.to_dict())

  metric_writers = [writers.MetricWriter(w, enabled=primary and not f, resume_step=step)
                    for w, f in zip(workdirs, failed)]
  train_data = parallel.put_replicated(
      exp.train_images.reshape(exp.train_images.shape[0], -1), mesh)
  z_grid = jnp.stack([train.grid_noise(gan, c) for c in configs])
  generate = _compiled_generate(gan, mesh)
  finite_members = jax.jit(_finite_members, out_shardings=parallel.replicated(mesh))
  pending = []
  stop = train.StopSignal()

  def fail(i, message):
    failed[i] = True
    logging.warning('member %s: %s', workdirs[i], message)
    writers.log(f'member {workdirs[i]} failed: {message}; the others train on')
    if primary:
      with open(os.path.join(workdirs[i], FAILED_FILE), 'w') as f:
        f.write(message + '\n')
      metric_writers[i].close()
      metric_writers[i].enabled = False

  def save(step):
    finite = np.asarray(finite_members(states))
    for i in range(num):
      if not failed[i] and not finite[i]:
        fail(i, f'its parameters became NaN/inf by step {step}')
    for i in range(num):
      # A member already holding this step (a resume from an older common step) keeps it:
      # the population recomputes exactly what it wrote.
      if not failed[i] and step not in ckpts[i].all_steps():
        ckpts[i].save(step, take_member(states, i, mesh), configs[i])
        if jax.process_count() > 1:
          # Orbax finalises a multi-host save behind barriers named per process, not per
          # manager: two managers finalising at once collide, so one member at a time.
          ckpts[i].wait()

  def write_samples(step):
    samples = np.asarray(generate(states.g_params, z_grid))  # every process: a collective
    if not primary:
      return
    for i in range(num):
      if failed[i]:
        continue
      grid = images.make_grid(samples[i].reshape(-1, *exp.image_shape))
      images.save_png(os.path.join(workdirs[i], 'samples', f'step_{step:08d}.png'), grid)
      metric_writers[i].write_image(step, 'samples', grid)

  writers.log(f'training a population of {num} on {template.dataset} '
              f'({exp.train_images.shape[0]} examples), {mesh.size} device(s) as '
              f'{dict(mesh.shape)} [{jax.devices()[0].platform}], steps {step} -> '
              f'{template.num_steps}')
  interval_start, interval_step = time.perf_counter(), step
  with stop.installed():
    try:
      while step < template.num_steps and stop.received is None:
        chunk = train.next_chunk(template, step)
        states, metrics = _compiled_steps(gan, mesh, chunk)(states, train_data)
        pending.append(metrics)
        step += chunk
        done = step == template.num_steps
        if step % template.log_every == 0 or done:
          stacked = jax.device_get(pending)
          pending = []
          values = {k: np.concatenate([m[k] for m in stacked], axis=1) for k in stacked[0]}
          now = time.perf_counter()
          rate = (step - interval_step) / (now - interval_start)
          interval_start, interval_step = now, step
          summary = []
          for i in range(num):
            if failed[i]:
              continue
            member = {k: v[i] for k, v in values.items()}
            bad = [k for k, v in member.items() if not np.all(np.isfinite(v))]
            if bad:
              fail(i, f'{bad[0]} became non-finite by step {step}')
              continue
            scalars = {k: float(np.mean(v)) for k, v in member.items()}
            metric_writers[i].write_scalars(step, {**scalars, 'steps_per_s': rate})
            summary.append(f'{os.path.basename(workdirs[i])} D {scalars["d_loss"]:.3f} '
                           f'G {scalars["g_loss"]:.3f}')
          writers.log(f'step {step}/{template.num_steps} | {rate:.1f} steps/s x {num} members '
                      f'| ETA {writers.format_duration((template.num_steps - step) / rate)} | '
                      + ' | '.join(summary))
          if all(failed):
            raise train.NonFiniteError(f'every member of the population became non-finite by '
                                       f'step {step}; lower the learning rates')
        if template.eval_every and step % template.eval_every == 0 and eval_fn is not None:
          for i in range(num):
            if not failed[i]:
              results = eval_fn(gan, take_member(states, i, mesh).g_params, step)
              metric_writers[i].write_scalars(step, {f'eval/{k}': v for k, v in results.items()})
        if (template.sample_every and step % template.sample_every == 0) or done:
          write_samples(step)
        if step % template.checkpoint_every == 0 or done:
          save(step)
      if stop.received is not None:
        save(step)
        raise Interrupted(stop.received, signal.Signals[stop.received].value, step)
    finally:
      for ckpt in ckpts:
        ckpt.wait()
        ckpt.close()
      for writer in metric_writers:
        writer.close()
  return states
