"""The runs one loop trains: each member's config, workdir, checkpointer and metric writer, and
how their states sit in the one state the loop steps (the layout).

A lone run is one member whose state is a plain TrainState (`Lone`); a population is M members
stacked along a leading axis, split over the mesh's `sweep` axis (`Stacked`). The actions ask
the layout, never which of the two they serve.
"""

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gan_jax.base import files, log
from gan_jax.base.config import Config
from gan_jax.base.errors import CheckpointError
from gan_jax.game import optim
from gan_jax.game.state import GAN, TrainState
from gan_jax.runtime import checkpoint, parallel, rundir, sampling, writers

# The mesh axis a population's members are split over (the other one is parallel.DATA_AXIS).
SWEEP_AXIS = 'sweep'


def members_sharded(mesh: Mesh) -> NamedSharding:
  """Leading (member) axis split over the sweep axis."""
  return NamedSharding(mesh, P(SWEEP_AXIS))


def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _nets_finite(g_params, d_params) -> tuple[jax.Array, jax.Array]:
  return _all_finite(g_params), _all_finite(d_params)


@functools.lru_cache(maxsize=None)  # compiled once per mesh, not at every log step
def _nets_finite_fn(mesh: Mesh, stacked: bool):
  fn = jax.vmap(_nets_finite) if stacked else _nets_finite
  # Replicated: every process reads the answer and acts on it alike.
  return jax.jit(fn, out_shardings=parallel.replicated(mesh))


class Lone:
  """One member; the state is its TrainState, replicated over the mesh."""

  stacked = False

  def __init__(self, mesh: Mesh):
    self.mesh = mesh

  def take(self, state: TrainState, i: int) -> TrainState:
    del i
    return state

  def stack(self, states: Sequence[TrainState]) -> TrainState:
    (state,) = states
    return state

  def nets_finite(self, state) -> np.ndarray:
    """bool [1, 2]: whether the (generator, discriminator) parameters are finite."""
    g, d = _nets_finite_fn(self.mesh, False)(state.g_params, state.d_params)
    return np.asarray([[g, d]])

  def stack_noise(self, noise: Sequence[jax.Array]) -> jax.Array:
    (z,) = noise
    return z

  def generate_shown(self, gan: GAN, g_params, z: jax.Array, labels=None) -> np.ndarray:
    """G(z) (G(z, y) given a conditional model's labels) as shown, [1, N, data_dim] (every
    process computes)."""
    return sampling.generate(gan, g_params, z, labels, shown=True)[None]


class Stacked:
  """M members stacked along a leading axis, split over the mesh's sweep axis."""

  stacked = True

  def __init__(self, mesh: Mesh):
    self.mesh = mesh

  def take(self, state: TrainState, i: int) -> TrainState:
    """Member i, replicated on every device: a lone run's state."""
    return _taker(self.mesh)(state, jnp.int32(i))

  def stack(self, states: Sequence[TrainState]) -> TrainState:
    return _stacker(self.mesh)(*states)

  def nets_finite(self, state) -> np.ndarray:
    """bool [M, 2]: whether each member's (generator, discriminator) parameters are finite."""
    g, d = _nets_finite_fn(self.mesh, True)(state.g_params, state.d_params)
    return np.stack([np.asarray(g), np.asarray(d)], axis=-1)

  def stack_noise(self, noise: Sequence[jax.Array]) -> jax.Array:
    return jnp.stack(noise)

  def generate_shown(self, gan: GAN, g_params, z: jax.Array, labels=None) -> np.ndarray:
    """Each member's G on its own z (and labels), as shown, [M, N, data_dim] (a collective:
    every process calls)."""
    return sampling.generate(gan, g_params, z, labels, mesh=self.mesh, members=True, shown=True)


Layout = Lone | Stacked


def stack(trees):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


@functools.lru_cache(maxsize=None)
def _taker(mesh: Mesh):
  return jax.jit(
    lambda states, i: jax.tree.map(lambda x: x[i], states), out_shardings=parallel.replicated(mesh)
  )


@functools.lru_cache(maxsize=None)
def _stacker(mesh: Mesh):
  return jax.jit(lambda *s: stack(s), out_shardings=members_sharded(mesh))


class Members:
  """The runs one loop trains, member i in workdirs[i].

  Attributes:
    configs, workdirs, ckpts, writers: one per member.
    layout: how their states sit in the loop's state (Lone or Stacked), and the devices.
    failed: members marked FAILED (left out from then on).
    primary: this process writes the files.
  """

  def __init__(
    self,
    configs: Sequence[Config],
    workdirs: Sequence[str],
    ckpts: Sequence[checkpoint.Checkpointer],
    layout: Layout,
    *,
    failed: Sequence[bool],
    primary: bool,
  ):
    self.configs, self.workdirs, self.ckpts = list(configs), list(workdirs), list(ckpts)
    self.layout, self.primary = layout, primary
    self.failed = list(failed)
    self.writers: list[writers.MetricWriter] = []

  @property
  def num(self) -> int:
    return len(self.configs)

  def live(self) -> list[int]:
    return [i for i in range(self.num) if not self.failed[i]]

  def take(self, state, i: int) -> TrainState:
    """Member i's state, as a lone run's (replicated)."""
    return self.layout.take(state, i)

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

  def resume(self, state, *, quarantine: bool) -> tuple[object, int]:
    """The state to start from and its step (0: `state` itself, nothing saved yet).

    One member resumes from its newest readable checkpoint (an unreadable one falls back to
    the one before it); several from the newest step every live member has (they step
    together). `quarantine`: move unreadable checkpoints aside (see Checkpointer.restore).
    """
    if self.num == 1 and not self.failed[0]:
      if not self.ckpts[0].all_steps():
        return state, 0
      abstract = checkpoint.abstract_like(
        self.take(state, 0), parallel.replicated(self.layout.mesh)
      )
      member, _, step = self.ckpts[0].restore(
        abstract, expect=self.configs[0], quarantine=quarantine
      )
      log.info(f'resumed from {self.ckpts[0].directory}/{step}')
      return self.layout.stack([member]), step
    step = self.newest_common_step()
    if step:
      state = self.restore(state, step, quarantine=quarantine)
      log.info(f'resumed {self.num} members from step {step}')
    return state, step

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
    abstract = checkpoint.abstract_like(self.take(state, 0), parallel.replicated(self.layout.mesh))
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
    return self.layout.stack(restored)

  def fail(self, i: int, message: str) -> None:
    """Marks member i FAILED: its FAILED file holds `message`; its logs stop."""
    self.failed[i] = True
    if self.num > 1:
      log.detail(f'member {self.workdirs[i]}: {message}')
      log.info(f'member {self.workdirs[i]} failed: {message}; the others train on')
    if self.primary:
      files.write_text(rundir.failed_path(self.workdirs[i]), message + '\n')
      if self.writers:
        self.writers[i].close()
        self.writers[i].enabled = False

  def wait(self) -> None:
    for ckpt in self.ckpts:
      ckpt.wait()

  def close(self, *, after_error: bool = False) -> None:
    """Waits for the checkpoint writes, then closes every checkpointer and writer, each one even
    if another failed. The first failure is raised, unless `after_error`: closing after an error
    (a full disk) tends to fail alike, and the error already on its way is the one to report."""
    closers = [f for ckpt in self.ckpts for f in (ckpt.wait, ckpt.close)]
    first = None
    for close in closers + [writer.close for writer in self.writers]:
      try:
        close()
      except Exception as e:  # the rest still close; the first is raised below
        first = first or e
    if first is not None and not after_error:
      raise first
