"""The paper's MNIST networks in Flax linen: an MLP generator and a maxout discriminator."""

import math
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    'relu': nn.relu, 'sigmoid': nn.sigmoid, 'tanh': jnp.tanh, 'leaky_relu': nn.leaky_relu}


def uniform_init(scale: float) -> nn.initializers.Initializer:
  """U(-scale, scale), pylearn2's `irange` initialisation."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)

  return init


def sample_noise(key: Array, shape: Sequence[int], prior: str) -> Array:
  """z ~ p_z. 'uniform' is U(-sqrt 3, sqrt 3): unit variance, as the original MNIST config."""
  if prior == 'uniform':
    return jax.random.uniform(key, shape, jnp.float32, -math.sqrt(3.0), math.sqrt(3.0))
  if prior == 'normal':
    return jax.random.normal(key, shape, jnp.float32)
  raise ValueError(f'unknown noise prior {prior!r}')


class Generator(nn.Module):
  """G(z): Dense(hidden) activations, then an output layer of `output_dim` values.

  The output is sigmoid for pixels in [0, 1] (the paper's MNIST G) or linear for real-valued
  data (the 1-D toy of Figure 1).
  """

  hidden: Sequence[int] = (1200, 1200)
  output_dim: int = 784
  init_scale: float = 0.05
  activation: str = 'relu'
  output_activation: str = 'sigmoid'

  @nn.compact
  def __call__(self, z: Array) -> Array:
    init = uniform_init(self.init_scale)
    h = z
    for i, width in enumerate(self.hidden):
      h = ACTIVATIONS[self.activation](nn.Dense(width, kernel_init=init, name=f'hidden_{i}')(h))
    out = nn.Dense(self.output_dim, kernel_init=init, name='output')(h)
    return nn.sigmoid(out) if self.output_activation == 'sigmoid' else out


class Maxout(nn.Module):
  """A maxout layer: the max over `pieces` consecutive linear pieces of each unit (pylearn2)."""

  units: int
  pieces: int
  kernel_init: nn.initializers.Initializer

  @nn.compact
  def __call__(self, x: Array) -> Array:
    y = nn.Dense(self.units * self.pieces, kernel_init=self.kernel_init)(x)
    return y.reshape(*y.shape[:-1], self.units, self.pieces).max(axis=-1)


class Discriminator(nn.Module):
  """D(x) as a logit: dropout on each layer's input, maxout hidden layers, one sigmoid unit.

  The probability D(x) is sigmoid(logit); losses use the logit for stability.
  """

  units: Sequence[int] = (240, 240)
  pieces: int = 5
  init_scale: float = 0.005
  keep_probs: Sequence[float] = (0.8, 0.5, 0.5)

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    init = uniform_init(self.init_scale)
    h = x
    for i, units in enumerate(self.units):
      h = nn.Dropout(1.0 - self.keep_probs[i], deterministic=not train)(h)
      h = Maxout(units, self.pieces, init, name=f'maxout_{i}')(h)
    h = nn.Dropout(1.0 - self.keep_probs[-1], deterministic=not train)(h)
    return nn.Dense(1, kernel_init=init, name='output')(h)[..., 0]


def marginal_logits(pixel_means: np.ndarray, eps: float = 1e-7) -> np.ndarray:
  """Logit of each pixel's training mean, clipped to [eps, 1 - eps]: the original G output bias."""
  p = np.clip(np.asarray(pixel_means, np.float64), eps, 1.0 - eps)
  return (np.log(p) - np.log1p(-p)).astype(np.float32)
