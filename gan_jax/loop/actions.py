"""What the loop does between its compiled calls: logs, evaluations, sample grids, checkpoints,
and what happens when a member goes non-finite.

Every action works on `Members`: the runs one loop trains, each with its own config, workdir,
checkpointer and metric writer. A lone run is one member whose state is a plain TrainState; a
population is M members stacked along a leading axis.
"""

import functools
import os
import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.base import files, log
from gan_jax.base.config import Config
from gan_jax.base.errors import CheckpointError, UserError
from gan_jax.base.log import warn
from gan_jax.game import optim
from gan_jax.game.state import GAN, TrainState
from gan_jax.loop.loop import Action, Rewind
from gan_jax.runtime import checkpoint, images, parallel, sampling, writers

# Written into a member's workdir when its losses or parameters become NaN/inf (and it is not
# rolled back); the member is then left out of checkpoints, logs and the ranking.
FAILED_FILE = 'FAILED'
# Rollbacks of one member before it is marked failed.
MAX_ROLLBACKS = 3
# Where the fixed noise of the sample grids comes from, apart from the training stream.
_GRID_STREAM = 0x6E1D
_NETS = ('generator', 'discriminator')

# (gan, g_params, step) -> scalars to log, run every config.eval_every steps.
EvalFn = Callable[[GAN, dict, int], dict[str, float]]


class NonFiniteError(UserError):
  """A loss or parameter became NaN or infinite."""


class Members:
  """The runs one loop trains, member i in workdirs[i].

  Attributes:
    configs, workdirs, ckpts, writers: one per member.
    failed: members marked FAILED (left out from then on).
    mesh: the devices.
    stacked: the state holds the members along a leading axis (a population); otherwise it is
      the one member's TrainState.
    primary: this process writes the files.
  """

  def __init__(
    self,
    configs: Sequence[Config],
    workdirs: Sequence[str],
    ckpts: Sequence[checkpoint.Checkpointer],
    mesh: jax.sharding.Mesh,
    *,
    stacked: bool,
    failed: Sequence[bool],
    primary: bool,
    take: Callable | None = None,
    stack: Callable | None = None,
  ):
    self.configs, self.workdirs, self.ckpts = list(configs), list(workdirs), list(ckpts)
    self.mesh, self.stacked, self.primary = mesh, stacked, primary
    self.failed = list(failed)
    self.writers: list[writers.MetricWriter] = []
    self._take = take or (lambda state, i: state)
    self._stack = stack or (lambda states: states[0])

  @property
  def num(self) -> int:
    return len(self.configs)

  def live(self) -> list[int]:
    return [i for i in range(self.num) if not self.failed[i]]

  def take(self, state, i: int) -> TrainState:
    """Member i's state, as a lone run's (replicated)."""
    return self._take(state, i)

  def stack(self, states: Sequence[TrainState]):
    return self._stack(states)

  def nets_finite(self, state) -> np.ndarray:
    """bool [M, 2]: whether each member's (generator, discriminator) parameters are finite."""
    g, d = _nets_finite_fn(self.mesh, self.stacked)(state.g_params, state.d_params)
    return np.stack([np.asarray(g), np.asarray(d)], axis=-1).reshape(self.num, 2)

  def newest_common_step(self) -> int:
    """The newest step every live member has a checkpoint of (0: none has one)."""
    have = [set(self.ckpts[i].all_steps()) for i in self.live()]
    if not any(have):
      return 0
    common = set.intersection(*have)
    if not common:
      where = [self.ckpts[i].directory for i in self.live()]
      raise CheckpointError(
        f"the members' checkpoints ({', '.join(where)}) share no step, so "
        'the population cannot resume as one; use --overwrite or a new '
        'workdir'
      )
    return max(common)

  def restore(
    self,
    state,
    step: int,
    *,
    quarantine: bool = False,
    scale: Sequence[int] = (),
    factor: float = 1.0,
  ):
    """Every live member from its checkpoint of `step`; those in `scale` with both learning
    rates times `factor`. Failed members keep whatever `state` holds (they are never saved)."""
    abstract = checkpoint.abstract_like(self.take(state, 0), parallel.replicated(self.mesh))
    restored = []
    for i, ckpt in enumerate(self.ckpts):
      if self.failed[i]:
        restored.append(self.take(state, i))
        continue
      member, _, _ = ckpt.restore(abstract, step, expect=self.configs[i], quarantine=quarantine)
      if i in scale:
        member = member.replace(
          g_opt_state=optim.scale_learning_rate(member.g_opt_state, factor),
          d_opt_state=optim.scale_learning_rate(member.d_opt_state, factor),
        )
      restored.append(member)
    return self.stack(restored)

  def fail(self, i: int, message: str) -> None:
    """Marks member i FAILED: FAILED_FILE holds `message`; its logs stop."""
    self.failed[i] = True
    if self.num > 1:
      log.detail(f'member {self.workdirs[i]}: {message}')
      log.info(f'member {self.workdirs[i]} failed: {message}; the others train on')
    if self.primary:
      files.write_text(os.path.join(self.workdirs[i], FAILED_FILE), message + '\n')
      if self.writers:
        self.writers[i].close()
        self.writers[i].enabled = False

  def wait(self) -> None:
    for ckpt in self.ckpts:
      ckpt.wait()

  def close(self) -> None:
    """Waits for the checkpoint writes, then closes every checkpointer and writer."""
    try:
      for ckpt in self.ckpts:
        try:
          ckpt.wait()
        finally:
          ckpt.close()
    finally:
      for writer in self.writers:
        writer.close()


def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _nets_finite(g_params, d_params) -> tuple[jax.Array, jax.Array]:
  return _all_finite(g_params), _all_finite(d_params)


@functools.lru_cache(maxsize=None)  # compiled once per mesh, not at every log step
def _nets_finite_fn(mesh: jax.sharding.Mesh, stacked: bool):
  fn = jax.vmap(_nets_finite) if stacked else _nets_finite
  # Replicated: every process reads the answer and acts on it alike.
  return jax.jit(fn, out_shardings=parallel.replicated(mesh))


def first_nonfinite(values: dict[str, np.ndarray]) -> tuple[str, int] | None:
  """The first metric (in order) holding a NaN/inf, and the index of the first such value."""
  for name, v in values.items():
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
      return name, int(bad[0])
  return None


def nonfinite_advice(net: str, config: Config | None, checkpoints: Sequence[int]) -> str:
  """What to do about `net` going non-finite: the flag that most likely drove it (an init scale
  far beyond any recipe, else the net's learning rate) and the kept checkpoint."""
  scales = {'generator': 'g_init_scale', 'discriminator': 'd_init_scale'}
  huge = [s for s in (scales[net], *scales.values()) if config and getattr(config, s) > 1]
  if huge:  # weights beyond U(-1, 1) overflow float32 within a few layers, whatever the rate
    return (
      f'its weights start at up to --{huge[0]}={getattr(config, huge[0])}; train again with a '
      'smaller one (e.g. 0.05) in a new --workdir or with --overwrite'
    )
  flag = '--learning_rate'
  if net == 'discriminator' and config is not None and config.d_learning_rate > 0:
    flag = '--d_learning_rate'  # D's own rate; otherwise --learning_rate drives both nets
  if config is not None:
    flag += f' (now {getattr(config, flag[2:])})'
  if checkpoints:
    return (
      f'the checkpoint of step {max(checkpoints)} is kept: resume from it with a lower '
      f'{flag}, or use --on_nonfinite=rollback'
    )
  return (
    f'no checkpoint was written before it: run again with a lower {flag}, or use a '
    'smaller --checkpoint_every with --on_nonfinite=rollback'
  )


class NonFinitePolicy:
  """config.on_nonfinite, for a lone run and a population alike.

  'stop': the member is marked FAILED (FAILED_FILE in its workdir says why) and the others
  train on; when no member is left, NonFiniteError (for a lone run: its message, which names
  the step, the net, its learning-rate flag and the checkpoint kept).

  'rollback': every live member is restored from the newest checkpoint they all have (a
  population steps together), and only the members that went non-finite continue with both
  learning rates times config.rollback_lr_factor. The others recompute the same steps from the
  same state, so their runs are as if nothing happened. A member with MAX_ROLLBACKS rollbacks
  behind it, or with no checkpoint to go back to, is handled as under 'stop'.
  """

  def __init__(self, members: Members, config: Config):
    self.members = members
    self.rollback = config.on_nonfinite == 'rollback'
    self.factor = config.rollback_lr_factor
    self.rollbacks = [0] * members.num

  def check(self, step: int, state, values: dict[str, np.ndarray] | None = None) -> Rewind | None:
    """Checks the live members at `step`; returns a Rewind if it rolled back.

    Args:
      step: the current step.
      state: the state after `step`.
      values: per-step metrics [M, T] of the last T steps up to `step`, if any.

    Raises:
      NonFiniteError: no member is left.
    """
    members = self.members
    if not members.live():  # a population resumed with every member failed
      self._raise_if_none_left(step)
    bad = {}  # member -> (what happened, the net)
    for i in members.live():
      found = first_nonfinite({k: v[i] for k, v in (values or {}).items()})
      if found:
        name, index = found
        at = step - values[name].shape[1] + 1 + index
        net = 'discriminator' if name.startswith('d_') else 'generator'
        bad[i] = (f'{name} ({net}) became {values[name][i, index]} at step {at}', net)
    if len(bad) < len(members.live()):
      finite = members.nets_finite(state)
      for i in members.live():
        if i not in bad and not finite[i].all():
          net = _NETS[int(np.argmin(finite[i]))]
          bad[i] = (f"the {net}'s parameters became NaN/inf by step {step}", net)
    if not bad:
      return None
    messages = {}
    for i, (what, net) in bad.items():
      ckpt_steps = members.ckpts[i].all_steps()
      messages[i] = f'{what}; {nonfinite_advice(net, members.configs[i], ckpt_steps)}'
      if not self.rollback or self.rollbacks[i] == MAX_ROLLBACKS:
        self._fail(i, messages[i], step)
    back = [i for i in bad if not members.failed[i]]
    if back:
      members.wait()  # a write in flight may be the checkpoint to go back to
      to = members.newest_common_step()
      if not to:
        for i in back:
          self._fail(i, f'{messages[i]}; no checkpoint to roll back to', step)
        return None
      state = members.restore(state, to, scale=back, factor=self.factor)
      for i in back:
        self.rollbacks[i] += 1
        who = f'member {members.workdirs[i]}: ' if members.num > 1 else ''
        warn(f'{who}{messages[i]}: rolled back to step {to} with learning rates x{self.factor}')
      for i in members.live():
        members.writers[i].truncate_after(to)
      return Rewind(state, to)
    return None

  def _fail(self, i: int, message: str, step: int) -> None:
    self.members.fail(i, message)
    self._raise_if_none_left(step, message)

  def _raise_if_none_left(self, step: int, message: str = '') -> None:
    if self.members.live():
      return
    if self.members.num == 1 and message:
      raise NonFiniteError(message)
    raise NonFiniteError(
      f'every member of the population became non-finite by step {step}; lower the learning rates'
    )


class Log(Action):
  """Metrics of the steps since the last log: finiteness policy, metrics.jsonl, one line."""

  wants_metrics = True

  def __init__(
    self,
    members: Members,
    policy: NonFinitePolicy,
    every: int,
    line: Callable[[int, float, dict[int, dict[str, float]]], str],
  ):
    """`line(step, steps/s, {member: scalars})` is the progress line printed."""
    self.members, self.policy, self.every, self.line = members, policy, every, line
    self._since = None

  def reset(self, step):
    self._since = (time.perf_counter(), step)

  def __call__(self, step, state, metrics):
    calls = jax.device_get(metrics)
    num = self.members.num
    values = {
      k: np.concatenate([np.reshape(m[k], (num, -1)) for m in calls], axis=1) for k in calls[0]
    }
    rewind = self.policy.check(step, state, values)
    if rewind is not None:
      return rewind
    now = time.perf_counter()
    rate = (step - self._since[1]) / (now - self._since[0])
    self._since = (now, step)
    scalars = {}
    for i in self.members.live():
      scalars[i] = {k: float(np.mean(v[i])) for k, v in values.items()}
      self.members.writers[i].write_scalars(step, {**scalars[i], 'steps_per_s': rate})
    log.info(self.line(step, rate, scalars))
    return None


class Evaluate(Action):
  """`fn(gan, g_params, step)` for each live member; its scalars logged as eval/<name>.

  A run that averages G is evaluated on the average (eval/<name>) and on the raw G
  (eval_raw/<name>). Without `fn` it still bounds the fused chunks, as a run with an evaluation
  would.
  """

  at_end = False

  def __init__(self, members: Members, gan: GAN, every: int, fn: EvalFn | None):
    self.members, self.gan, self.every, self.fn = members, gan, every, fn

  def __call__(self, step, state, metrics):
    if self.fn is None:
      return None
    for i in self.members.live():
      member = self.members.take(state, i)
      results = self.fn(self.gan, member.generator_params(), step)
      scalars = {f'eval/{k}': v for k, v in results.items()}
      if member.g_average is not None:
        raw = self.fn(self.gan, member.generator_params(raw=True), step)
        scalars.update({f'eval_raw/{k}': v for k, v in raw.items()})
      self.members.writers[i].write_scalars(step, scalars)
    return None


def grid_noise(gan: GAN, config: Config) -> jax.Array:
  """The fixed noise batch behind every sample grid of a run."""
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _GRID_STREAM)
  return gan.sample_noise(key, config.num_grid_samples)


class SampleGrid(Action):
  """Each live member's G (its average, if kept) on its fixed grid noise: samples/step_*.png
  and TensorBoard."""

  def __init__(self, members: Members, gan: GAN, every: int, image_shape: tuple[int, ...]):
    self.members, self.gan, self.every, self.image_shape = members, gan, every, image_shape
    noise = [grid_noise(gan, c) for c in members.configs]
    self.z = jnp.stack(noise) if members.stacked else noise[0]
    # A conditional model's grid shows one class per row.
    self.labels, self.columns = None, None
    if gan.conditional:
      labels, self.columns = sampling.class_rows(gan.num_classes, noise[0].shape[0])
      self.labels = np.stack([labels] * len(noise)) if members.stacked else labels

  def __call__(self, step, state, metrics):
    members = self.members
    # Every process computes (a population's output is a collective); the primary writes.
    if members.stacked:
      samples = sampling.generate(
        self.gan,
        state.generator_params(),
        self.z,
        self.labels,
        mesh=members.mesh,
        members=True,
        display=True,
      )
    else:
      samples = sampling.generate(
        self.gan, state.generator_params(), self.z, self.labels, display=True
      )[None]
    if not members.primary:
      return None
    for i in members.live():
      grid = images.make_grid(samples[i].reshape(-1, *self.image_shape), columns=self.columns)
      images.save_png(os.path.join(members.workdirs[i], 'samples', f'step_{step:08d}.png'), grid)
      members.writers[i].write_image(step, 'samples', grid)
    return None


class Checkpoint(Action):
  """Saves each live member's state (after the finiteness policy); also when stopped."""

  def __init__(self, members: Members, policy: NonFinitePolicy, every: int):
    self.members, self.policy, self.every = members, policy, every

  def __call__(self, step, state, metrics):
    rewind = self.policy.check(step, state)
    if rewind is not None:
      return rewind
    self._save(step, state)
    return None

  def stopped(self, step, state):
    # After a rollback, nothing newer than the checkpoint gone back to is saved.
    if self.policy.check(step, state) is None:
      self._save(step, state)

  def _save(self, step, state):
    members = self.members
    for i in members.live():
      # A member already holding this step (a resume from an older common step, a stop at a
      # checkpoint step) keeps it: the loop recomputes exactly what it wrote.
      if step in members.ckpts[i].all_steps():
        continue
      members.ckpts[i].save(step, members.take(state, i), members.configs[i])
      if members.num > 1 and jax.process_count() > 1:
        # Orbax finalises a multi-host save behind barriers named per process, not per
        # manager: two managers finalising at once collide, so one member at a time.
        members.ckpts[i].wait()
