"""Data parallelism as jit over a device Mesh: batch sharded on 'data', state replicated.

XLA's SPMD partitioner inserts the gradient all-reduce; the math is that of one device with the
global batch, so 1 and N devices agree to float tolerance.
"""

import functools

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gan_jax.base.errors import ConfigError
from gan_jax.game import steps
from gan_jax.game.state import GAN

DATA_AXIS = 'data'


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh over all devices of all processes (or the given ones)."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over the data axis."""
  return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  n = mesh.shape[DATA_AXIS]
  if batch_size % n:
    raise ConfigError(
      f'--batch_size={batch_size} must be divisible by the number of devices '
      f'({n}); use a multiple of {n}'
    )


def put_replicated(array: np.ndarray, mesh: Mesh) -> jax.Array:
  """Places a host array (identical on every process) on every device of the mesh, once."""
  sharding = replicated(mesh)
  return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def compile_train_steps(gan: GAN, mesh: Mesh, num_steps: int):
  """jit of steps.train_steps for `num_steps` fused iterations on `mesh`.

  Returns f(state, data) -> (state, metrics). The buffers of the first argument (the state)
  are donated: the caller must not use the state it passed in.
  """
  repl = replicated(mesh)
  batch = data_sharded(mesh)
  constrain = lambda x: jax.lax.with_sharding_constraint(x, batch)
  fn = functools.partial(steps.train_steps, gan=gan, num_steps=num_steps, constrain=constrain)
  return jax.jit(fn, in_shardings=(repl, repl), out_shardings=(repl, repl), donate_argnums=0)
