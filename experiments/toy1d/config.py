"""The 1-D experiment's settings: one frozen dataclass, every field a flag
(experiments.config_flags)."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments.toy1d import theory
from gan_jax.base.config import (
  NON_NEGATIVE,
  NUMERIC,
  POSITIVE,
  SCHEDULE,
  SEED,
  SHAPE,
  WIDTHS,
  Range,
  check_fields,
  field,
)
from gan_jax.base.errors import ConfigError
from gan_jax.runtime import resources

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Data1D:
  """p_data: a mixture of Gaussians on the line."""

  means: tuple[float, ...]
  stds: tuple[float, ...]
  weights: tuple[float, ...]

  def density(self, x: np.ndarray) -> np.ndarray:
    return theory.gaussian_mixture_density(x, self.means, self.stds, self.weights)

  def sample(self, key: Array, shape) -> Array:
    mode_key, noise_key = jax.random.split(key)
    mode = jax.random.choice(mode_key, len(self.means), shape, p=jnp.asarray(self.weights))
    return jnp.asarray(self.means)[mode] + jnp.asarray(self.stds)[mode] * jax.random.normal(
      noise_key, shape
    )

  def window(self, num_stds: float = 4.0) -> tuple[float, float]:
    """The part of the line the figures show."""
    return (
      min(m - num_stds * s for m, s in zip(self.means, self.stds)),
      max(m + num_stds * s for m, s in zip(self.means, self.stds)),
    )


DATA = {
  'gaussian': Data1D(means=(1.0,), stds=(0.5,), weights=(1.0,)),
  'mixture': Data1D(means=(-1.5, 1.5), stds=(0.35, 0.35), weights=(0.5, 0.5)),
}


@dataclasses.dataclass(frozen=True)
class ToyConfig:
  """One 1-D experiment. Defaults: Algorithm 1 with k = 1 and the non-saturating G loss."""

  data: str = field(
    'gaussian',
    'p_data: a Gaussian or a two-mode mixture (the modes view always uses the mixture).',
    role=SHAPE,
    choices=tuple(DATA),
  )
  g_loss: str = field(
    'non_saturating',
    'Generator loss of the main game.',
    role=SHAPE,
    choices=('non_saturating', 'minimax'),
  )
  update: str = field(
    'alternating',
    'Update rule of the main game.',
    role=SHAPE,
    choices=('alternating', 'simultaneous'),
  )
  d_steps: int = field(1, 'D steps per G step (k) of the main game.', role=SHAPE, bounds=POSITIVE)
  num_steps: int = field(6000, 'Iterations of the main game.', role=SCHEDULE, bounds=POSITIVE)
  batch_size: int = field(
    128, 'Samples of p_data and of p_z per D or G step.', role=SHAPE, bounds=POSITIVE
  )
  # Adam (beta1 = 0.5), cosine decay to final_lr_fraction so the game settles at the end. D
  # learns faster than G: with equal rates the game kept oscillating (JSD 0.02-0.05).
  g_learning_rate: float = field(
    5e-4, 'Initial Adam learning rate of G (cosine decay).', role=NUMERIC, bounds=POSITIVE
  )
  d_learning_rate: float = field(
    4e-3, 'Initial Adam learning rate of D (cosine decay).', role=NUMERIC, bounds=POSITIVE
  )
  final_lr_fraction: float = field(
    0.05,
    'Both learning rates decay to this fraction of their initial value at the end of the game.',
    role=NUMERIC,
    bounds=Range(0, 1),
  )
  g_hidden: tuple[int, ...] = field(
    (32, 32), "Widths of G's ReLU hidden layers.", role=SHAPE, bounds=WIDTHS
  )
  d_units: tuple[int, ...] = field(
    (32, 32), "Units of each of D's maxout layers.", role=SHAPE, bounds=WIDTHS
  )
  d_pieces: int = field(4, 'Pieces per maxout unit.', role=SHAPE, bounds=POSITIVE)
  init_scale: float = field(
    0.5, 'Weights of both nets ~ U(-scale, scale).', role=SHAPE, bounds=POSITIVE
  )
  # G(z) starts mostly left of the data, a poor G as early in training.
  g_output_bias: float = field(-1.0, "G's initial output bias.", role=SHAPE)
  seed: int = field(0, 'Seed of the main game.', role=NUMERIC, bounds=NON_NEGATIVE, device=SEED)
  chunk_steps: int = field(
    50,
    'Steps fused per compiled call; checkpoints at 0, chunk_steps * 2^i and num_steps.',
    role=SCHEDULE,
    bounds=POSITIVE,
  )
  # Figure 1: (a) is the game at early_step; (b) trains D d_fit_steps with G fixed (also how
  # C(G) is estimated at each checkpoint); (c) then trains G g_fit_steps with D fixed.
  early_step: int = field(50, 'The checkpoint shown as Figure 1 (a).', role=SCHEDULE)
  d_fit_steps: int = field(
    1000, 'D steps with G fixed when training D towards D*.', role=SCHEDULE, bounds=POSITIVE
  )
  d_fit_batch_size: int = field(
    512, 'Batch size of the D steps towards D*.', role=SHAPE, bounds=POSITIVE
  )
  d_fit_learning_rate: float = field(
    3e-3, 'Constant Adam learning rate of the D steps towards D*.', role=NUMERIC, bounds=POSITIVE
  )
  g_fit_steps: int = field(
    20, 'G steps with D fixed of Figure 1 (c).', role=SCHEDULE, bounds=POSITIVE
  )
  saturation_steps: int = field(
    1000,
    'D steps (G fixed) of the saturation check, measured every chunk_steps.',
    role=SCHEDULE,
    bounds=POSITIVE,
  )
  # The mode-collapse view: each game of MODE_GAMES on the mixture, mode_seeds seeds each, G
  # starting with the median of G(z) at mode_start: on the left mode, as after a collapse, so
  # the view asks whether a game finds the other mode. (Started halfway, at 0, all 24 runs of
  # a 4-seed trial found both.)
  mode_steps: int = field(
    1200, 'Iterations of each mode-view game.', role=SCHEDULE, bounds=POSITIVE
  )
  mode_seeds: int = field(3, 'Seeds of each mode-view game.', role=SCHEDULE, bounds=POSITIVE)
  mode_start: float = field(
    -1.5,
    'Where the mode-view games start G (the median of G(z)): '
    '-1.5 is on the left mode, 0 halfway between the modes.',
    role=NUMERIC,
  )
  # The grids everything is measured on: x cells over x_range, z points over p_z's support.
  x_range: tuple[float, float] = field(
    (-5.0, 5.0), 'The interval of x the densities are measured on: lo,hi.', role=SHAPE
  )
  num_x: int = field(2000, 'Cells of the x grid.', role=SHAPE, bounds=Range(2))
  num_z: int = field(2001, "Points of the z grid on p_z's support.", role=SHAPE, bounds=Range(2))

  def replace(self, **changes) -> 'ToyConfig':
    return dataclasses.replace(self, **changes)

  def __post_init__(self):
    """Validates at construction: raises ConfigError naming the flag and the fix."""
    check_fields(self)
    if len(self.x_range) != 2 or not self.x_range[0] < self.x_range[1]:
      raise ConfigError(
        f'--x_range must be two numbers lo,hi with lo < hi, got {list(self.x_range)}'
      )
    for name in ('num_steps', 'd_fit_steps', 'mode_steps', 'saturation_steps'):
      if getattr(self, name) % self.chunk_steps:
        raise ConfigError(
          f'--{name}={getattr(self, name)} must be a multiple of '
          f'{self.chunk_steps} (steps per compiled call)'
        )
    if self.early_step not in self.checkpoints(self.num_steps):
      raise ConfigError(
        f'--early_step={self.early_step} must be a checkpoint: one of '
        f'{self.checkpoints(self.num_steps)}'
      )
    if self.update == 'simultaneous' and self.d_steps != 1:
      raise ConfigError(f'--d_steps={self.d_steps} needs --update=alternating')

  def memory_bytes(self) -> int:
    """A generous estimate of what the experiments hold at once: each net's state (Adam's two
    slots, gradients, a copy) for the main game and every mode-view seed, a batch's activations
    (the larger of the game's and the D fit's) and both nets on the x and z grids."""
    from experiments.toy1d import game  # it builds on this config

    params = resources.game_params(game.make_gan(self))
    width = sum(self.g_hidden) + self.d_pieces * sum(self.d_units) + 2
    batch = max(self.batch_size, self.d_fit_batch_size)
    floats = (
      5 * params * (1 + self.mode_seeds) + 8 * batch * width + 2 * (self.num_x + self.num_z) * width
    )
    return resources.FLOAT_BYTES * floats

  def check_memory(self) -> None:
    resources.check(
      f'the 1-D game of --g_hidden={",".join(map(str, self.g_hidden))} '
      f'--d_units={",".join(map(str, self.d_units))} --d_pieces={self.d_pieces} '
      f'--batch_size={self.batch_size} --d_fit_batch_size={self.d_fit_batch_size} '
      f'--num_x={self.num_x} --num_z={self.num_z} --mode_seeds={self.mode_seeds}',
      self.memory_bytes(),
      'use smaller sizes',
      on_device=True,
    )

  @property
  def data_distribution(self) -> Data1D:
    return DATA[self.data]

  def checkpoints(self, num_steps: int) -> list[int]:
    """0, chunk_steps * 2^i below num_steps, and num_steps: dense early, where G moves most."""
    steps = [0]
    while (step := self.chunk_steps * 2 ** (len(steps) - 1)) < num_steps:
      steps.append(step)
    return steps + [num_steps]

  def x_grid(self) -> np.ndarray:
    lo, hi = self.x_range
    dx = (hi - lo) / self.num_x
    return lo + dx * (np.arange(self.num_x) + 0.5)

  def z_grid(self) -> np.ndarray:
    return np.linspace(-math.sqrt(3.0), math.sqrt(3.0), self.num_z)
