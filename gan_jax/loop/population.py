"""A population: runs that differ only in numbers, trained as one vmapped computation.

Members share the networks, the data and the code of a step; what differs between them (the
seed and the optimisers' numeric hyperparameters) lives in the state, so their states stack
along a leading axis and one `vmap` of `steps.train_steps` steps them all. The stacked axis is
sharded over the `sweep` axis of a 2-D ('sweep', 'data') mesh: each group of devices trains its
own members, data-parallel within the group.

Each member keeps the outputs of a lone run in its own workdir (gan_jax.runtime.rundir), so
sampling.restore reads a member alone and a population resumes every member. It is the lone
run's peer over the same assembly (gan_jax.loop.assembly) and loop, and a member that goes
non-finite meets --on_nonfinite as a lone run does (gan_jax.loop.finite): marked FAILED while
the others train on, or rolled back.
"""

import functools
import math
import os
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gan_jax.base import log
from gan_jax.base.config import CHECKPOINT_FIELDS, NUMERIC_FIELDS, Config, structure
from gan_jax.base.errors import ConfigError
from gan_jax.game import models, optim, steps
from gan_jax.game.state import GAN, TrainState, build_gan, create_train_state
from gan_jax.loop import assembly
from gan_jax.loop.members import SWEEP_AXIS, Stacked, members_sharded, stack
from gan_jax.runtime import parallel, sampling, writers


def check_members(configs: Sequence[Config]) -> None:
  """Raises ConfigError naming the first non-numeric field in which two members differ."""
  if not configs:
    raise ConfigError('a population needs at least one member')
  first = configs[0]
  for i, config in enumerate(configs[1:], 1):
    if bool(first.g_ema_decay) != bool(config.g_ema_decay):
      raise ConfigError(
        f'members 0 and {i} differ in whether G is averaged (--g_ema_decay '
        f'{first.g_ema_decay} vs {config.g_ema_decay}), which changes the state; a population '
        'averages every member or none'
      )
    differ = [
      f
      for f in first.to_dict()
      if f not in NUMERIC_FIELDS and getattr(first, f) != getattr(config, f)
    ]
    if differ:
      raise ConfigError(
        f'members 0 and {i} differ in --{differ[0]} ({getattr(first, differ[0])!r} '
        f'vs {getattr(config, differ[0])!r}), which changes shapes or code; a '
        f'population may only differ in {", ".join(NUMERIC_FIELDS)}'
      )


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
    raise ConfigError(
      f'--sweep_devices={s} must divide both the number of devices ({n}) and '
      f'the population size ({num_members}); use {math.gcd(num_members, n)} '
      '(or 0 to choose)'
    )
  return Mesh(np.asarray(devices).reshape(s, n // s), (SWEEP_AXIS, parallel.DATA_AXIS))


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


def init_population(exp: assembly.Experiment, configs: Sequence[Config]) -> TrainState:
  """The members' initial states, stacked [M, ...] and sharded over the sweep axis.

  Member i's state equals create_train_state(build_gan(configs[i]), configs[i].seed, bias):
  the same random draws (a vmap of threefry draws what each key draws alone) and its own
  hyperparameters in the optimiser states.
  """
  keys = jnp.stack([jax.random.PRNGKey(c.seed) for c in configs])
  data_dim, num_train = exp.gan.generator.output_dim, exp.train_images.shape[0]
  classes = exp.gan.num_classes
  games = [
    build_gan(c, data_dim=data_dim, num_train=num_train, num_classes=classes) for c in configs
  ]
  g_hparams, d_hparams = (stack(h) for h in zip(*(member_hparams(g) for g in games)))
  average = {
    'decay': jnp.asarray([c.g_ema_decay for c in configs], jnp.float32),
    'warmup': jnp.asarray([c.g_ema_warmup for c in configs], jnp.float32),
  }
  init = _compiled_init(program_game(configs[0], data_dim, num_train, classes), exp.mesh)
  return init(keys, g_hparams, d_hparams, average, exp.output_bias, exp.class_mix)


def program_game(
  config: Config, data_dim: int, num_train: int | None = None, num_classes: int = 0
) -> GAN:
  """One GAN object per program: what `config`'s shapes and code are, not its numbers
  (num_train: as build_gan's; None for a game that is only sampled).

  The optimisers read every number from their states (optim.py), so any member's game traces
  the same program; sharing the object lets a process that trains the same structure again (a
  resume, the next group of a sweep, a benchmark) reuse the compiled functions below.
  """
  config = structure(config)
  key = tuple((f, getattr(config, f)) for f in CHECKPOINT_FIELDS)
  classes = num_classes if models.get(config.model).conditional else 0  # one key per program
  return _program_game(key, data_dim, num_train, classes)


@functools.lru_cache(maxsize=16)
def _program_game(key, data_dim: int, num_train: int | None, num_classes: int) -> GAN:
  return build_gan(
    Config(**dict(key)), data_dim=data_dim, num_train=num_train, num_classes=num_classes
  )


@functools.lru_cache(maxsize=16)
def _compiled_init(gan: GAN, mesh: Mesh):
  def init(key, g_h, d_h, average, bias, class_mix):
    state = create_train_state(gan, key, bias, class_mix)
    if state.g_average is not None:
      state = state.replace(g_average=state.g_average.replace(**average))
    return state.replace(
      g_opt_state=_with_hparams(state.g_opt_state, g_h),
      d_opt_state=_with_hparams(state.d_opt_state, d_h),
    )

  return jax.jit(
    jax.vmap(init, in_axes=(0, 0, 0, 0, None, None)), out_shardings=members_sharded(mesh)
  )


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
  batch = NamedSharding(mesh, P(parallel.DATA_AXIS))
  # Inside the vmap a per-member batch is split over 'data'; spmd_axis_name adds the member
  # axis over 'sweep' to every such constraint.
  constrain = lambda x: jax.lax.with_sharding_constraint(x, batch)
  fn = jax.vmap(
    functools.partial(steps.train_steps, gan=gan, num_steps=num_steps, constrain=constrain),
    in_axes=(0, None),
    spmd_axis_name=SWEEP_AXIS,
  )
  return jax.jit(
    fn,
    in_shardings=(members_sharded(mesh), parallel.replicated(mesh)),
    out_shardings=(members_sharded(mesh), parallel.replicated(mesh)),
    donate_argnums=0,
  )


def train_population(
  configs: Sequence[Config],
  workdirs: Sequence[str],
  *,
  sweep_devices: int = 0,
  overwrite: bool = False,
  eval_fn: sampling.EvalFn | None = None,
  devices=None,
  compile_steps=None,
) -> TrainState:
  """Trains (or resumes) the members `configs`, member i in `workdirs[i]`, as one population.

  Args:
    configs: the members; they may differ only in NUMERIC_FIELDS.
    workdirs: one per member; each gets what a lone run writes (see train_and_evaluate).
    sweep_devices: size of the sweep mesh axis (0: chosen, see make_mesh).
    overwrite: discard previous runs in the workdirs instead of resuming them.
    eval_fn: as train_and_evaluate's, called for each live member every eval_every steps.
    devices: default every device of every process.
    compile_steps: (gan, mesh, num_steps) -> the compiled fused step of the population
      (default: compile_population_steps, cached per program).

  Returns:
    The final states, stacked [M, ...] and sharded over the sweep axis.
  """
  configs = list(configs)
  if len(workdirs) != len(configs) or len(set(map(os.path.abspath, workdirs))) != len(configs):
    raise ConfigError(
      f'a population of {len(configs)} needs as many distinct workdirs, got {list(workdirs)}'
    )
  check_members(configs)
  mesh = make_mesh(len(configs), sweep_devices, devices)
  exp = assembly.setup(configs[0], mesh, members=len(configs))
  template, num = configs[0], len(configs)
  gan = program_game(template, exp.gan.generator.output_dim, exp.num_train, exp.gan.num_classes)
  compile_steps = compile_steps or _compiled_steps
  with assembly.claimed(workdirs, overwrite=overwrite):
    members, states, step = assembly.open_members(
      configs, workdirs, Stacked(mesh), init_population(exp, configs), retry_failed=False
    )

    def line(step, rate, scalars):
      summary = [
        f'{os.path.basename(workdirs[i])} D {s["d_loss"]:.3f} G {s["g_loss"]:.3f}'
        for i, s in scalars.items()
      ]
      return (
        f'step {step}/{template.num_steps} | {rate:.1f} steps/s x {num} members | ETA '
        f'{writers.format_duration((template.num_steps - step) / rate)} | ' + ' | '.join(summary)
      )

    log.info(
      f'training a population of {num} on {template.dataset} '
      f'({exp.num_train} examples), {mesh.size} device(s) as '
      f'{dict(mesh.shape)} [{jax.devices()[0].platform}], steps {step} -> '
      f'{template.num_steps}'
    )
    return assembly.train_members(
      members,
      states,
      step,
      exp=exp,
      gan=gan,
      eval_fn=eval_fn,
      progress_line=line,
      compile_steps=lambda n: compile_steps(gan, mesh, n),
    )
