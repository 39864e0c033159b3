"""What the loop does between its compiled calls: logs, evaluations, sample grids, checkpoints.

Each action works on `Members` (gan_jax.loop.members) and fires after the non-finite policy
(gan_jax.loop.finite.CheckFinite) of its step, so it only ever sees live, finite members.
"""

import time
from typing import Callable

import jax
import numpy as np

from gan_jax.base import log
from gan_jax.base.config import Config
from gan_jax.game.state import GAN
from gan_jax.loop.engine import Action
from gan_jax.loop.finite import CheckFinite
from gan_jax.loop.members import Members
from gan_jax.runtime import images, rundir, sampling

# Where the fixed noise of the sample grids comes from, apart from the training stream.
_GRID_STREAM = 0x6E1D


class Log(Action):
  """Metrics of the steps since the last log (as `check` read them, before this action):
  metrics.jsonl, TensorBoard and one line."""

  def __init__(
    self,
    members: Members,
    check: CheckFinite,
    every: int,
    line: Callable[[int, float, dict[int, dict[str, float]]], str],
  ):
    """`line(step, steps/s, {member: scalars})` is the progress line printed."""
    self.members, self.check, self.every, self.line = members, check, every, line
    self._since = None

  def reset(self, step):
    self._since = (time.perf_counter(), step)

  def __call__(self, step, state, metrics):
    values = self.check.losses
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

  def __init__(self, members: Members, gan: GAN, every: int, fn: sampling.EvalFn | None):
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
    self.z = members.layout.stack_noise(noise)
    # A conditional model's grid shows one class per row.
    self.labels, self.columns = None, None
    if gan.conditional:
      labels, self.columns = sampling.class_rows(gan.num_classes, noise[0].shape[0])
      self.labels = members.layout.stack_noise([labels] * len(noise))

  def __call__(self, step, state, metrics):
    members = self.members
    # Every process computes (a population's output is a collective); the primary writes.
    samples = members.layout.generate_shown(self.gan, state.generator_params(), self.z, self.labels)
    if not members.primary:
      return None
    for i in members.live():
      grid = images.make_grid(samples[i].reshape(-1, *self.image_shape), columns=self.columns)
      images.save_png(rundir.sample_grid_path(members.workdirs[i], step), grid)
      members.writers[i].write_image(step, 'samples', grid)
    return None


class Checkpoint(Action):
  """Saves each live member's state; also when stopped."""

  def __init__(self, members: Members, every: int):
    self.members, self.every = members, every

  def __call__(self, step, state, metrics):
    members = self.members
    if members.num > 1:
      # Every member's earlier write is committed before any new one starts, so a write that
      # fails (a full disk) cannot take the space an earlier checkpoint of another member was
      # still being written into: the newest common checkpoint survives.
      members.wait()
    for i in members.live():
      # A member already holding this step (a resume from an older common step, a stop at a
      # checkpoint step, a rollback while stopping) keeps it: the loop recomputes exactly what
      # it wrote.
      if step in members.ckpts[i].all_steps():
        continue
      members.ckpts[i].save(step, members.take(state, i), members.configs[i])
      if members.num > 1 and jax.process_count() > 1:
        # Orbax finalises a multi-host save behind barriers named per process, not per
        # manager: two managers finalising at once collide, so one member at a time.
        members.ckpts[i].wait()
    return None

  def stopped(self, step, state):
    return self(step, state, None)
