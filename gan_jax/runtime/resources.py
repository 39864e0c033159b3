"""Memory a request needs, estimated from its shapes and checked before anything is allocated.

A --num or a width far beyond the machine would otherwise end in an allocator crash (or the
kernel's OOM killer) after minutes of loading; the estimate is refused at once, in one line.
"""

import functools
import math
import os

from gan_jax.base.config import Config
from gan_jax.base.errors import UserError

FLOAT_BYTES = 4


def host_bytes_available() -> int:
  """Memory the host can give now: MemAvailable where /proc has it, else physical memory."""
  try:
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def device_bytes_limit() -> int | None:
  """The first device's memory (an accelerator's bytes_limit), None where it reports none."""
  import jax

  stats = jax.local_devices()[0].memory_stats() or {}
  return stats.get('bytes_limit')


def format_bytes(n: float) -> str:
  for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
    if n < 1024 or unit == 'TiB':
      return f'{n:.0f} {unit}' if unit == 'B' else f'{n:.1f} {unit}'
    n /= 1024


def check(what: str, needed: int, fix: str, *, on_device: bool = False) -> None:
  """Raises UserError when `needed` bytes exceed the host's (or the device's) memory.

  Args:
    what: the request, as the user wrote it (e.g. '--num=10000000').
    needed: the estimate in bytes.
    fix: what to change.
    on_device: also hold it against the device's memory.
  """
  limit, where = host_bytes_available(), 'available on this host'
  device = device_bytes_limit() if on_device else None
  if device is not None and device < limit:
    limit, where = device, 'of device memory'
  if needed > limit:
    raise UserError(
      f'{what} needs about {format_bytes(needed)}, more than the '
      f'{format_bytes(limit)} {where}; {fix}'
    )


def game_params(gan) -> int:
  """Parameters of a game's generator and discriminator (a gan_jax.game.state.GAN), counted
  from the abstract shapes of its initial state (jax.eval_shape: nothing allocated)."""
  import jax
  import numpy as np

  from gan_jax.game.state import create_train_state, param_count

  mix = np.full(gan.num_classes, 1 / gan.num_classes, np.float32) if gan.conditional else None
  state = jax.eval_shape(lambda: create_train_state(gan, 0, None, mix))
  return param_count(state.g_params) + param_count(state.d_params)


@functools.lru_cache(maxsize=16)
def model_params(config: Config, data_dim: int) -> int:
  """Parameters of the generator and discriminator of `config`, whichever model it names."""
  from gan_jax import data
  from gan_jax.game.state import build_gan

  classes = data.num_classes(config.dataset)
  return game_params(build_gan(config, data_dim=data_dim, num_classes=classes))


def training_bytes(config: Config, data_dim: int, num_train: int, members: int = 1) -> int:
  """The state (parameters, gradients, two optimiser slots, a donated copy) and one step's
  activations of each member, and the training images (uint8, shared) on the device."""
  params = model_params(config, data_dim)
  widths = sum(config.g_hidden) + sum(u * config.d_pieces for u in config.d_units)
  activations = 4 * config.batch_size * (config.noise_dim + widths + 2 * data_dim)
  return members * FLOAT_BYTES * (5 * params + activations) + num_train * data_dim


def check_training(config: Config, data_dim: int, num_train: int, members: int = 1) -> None:
  """Every size flag of a run (or of a population of `members`): the model and batch, the
  sample grids, and the evaluation during training."""
  needed = training_bytes(config, data_dim, num_train, members)
  check(
    f'the model of --noise_dim={config.noise_dim} --g_hidden='
    f'{",".join(map(str, config.g_hidden))} --d_units={",".join(map(str, config.d_units))} '
    f'--d_pieces={config.d_pieces} --batch_size={config.batch_size} '
    f'({model_params(config, data_dim):,} parameters'
    + (f', x {members} members' if members > 1 else '')
    + ')',
    needed,
    'use smaller shape flags' + (' or fewer members' if members > 1 else ''),
    on_device=True,
  )
  grid = config.num_grid_samples
  check_samples(f'--num_grid_samples={grid}', members * grid, (data_dim + config.noise_dim,))
  if config.eval_every > 0:
    check_evaluation(
      f'--eval_num_samples={config.eval_num_samples}', config.eval_num_samples, (data_dim,)
    )


def check_samples(flag: str, num: int, image_shape) -> None:
  """`num` float32 images, twice over (the batches and their concatenation)."""
  check(flag, 2 * FLOAT_BYTES * num * math.prod(image_shape), 'ask for fewer samples')


# The evaluation holds its samples several times over: as drawn, as shown, padded into chunks
# on the device, and as many real training images for the reference row.
EVALUATION_COPIES = 5


def check_evaluation(flag: str, num: int, image_shape) -> None:
  """An evaluation of `num` samples (gan_jax.evaluation): EVALUATION_COPIES float32 copies."""
  check(
    flag,
    EVALUATION_COPIES * FLOAT_BYTES * num * math.prod(image_shape),
    'evaluate fewer samples',
  )
