"""`mnist_mlp`: the paper's MNIST networks, an MLP generator and a maxout discriminator.

The config's shape flags (--g_hidden, --d_units, ...) shape these nets; the defaults are the
original mnist.yaml. Data of any shape trains them, flattened.
"""

from typing import Sequence

import flax.linen as nn
import jax
import numpy as np

from gan_jax.game.models.layers import ACTIVATIONS, Maxout, uniform_init

Array = jax.Array


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


def shape_flags(config, data_dim: int) -> tuple[dict, dict]:
  """The config's shape flags as (Generator, Discriminator) keyword arguments."""
  return (
    dict(
      hidden=tuple(config.g_hidden),
      output_dim=data_dim,
      init_scale=config.g_init_scale,
      activation=config.g_activation,
    ),
    dict(
      units=tuple(config.d_units),
      pieces=config.d_pieces,
      init_scale=config.d_init_scale,
      keep_probs=tuple(config.d_keep_probs),
    ),
  )


def build(config, data_dim: int, **widths) -> tuple[Generator, Discriminator]:
  """G and D as the config's shape flags say (defaults: the original mnist.yaml).

  Args:
    config: the experiment (a gan_jax.base.config.Config).
    data_dim: values per example; G outputs that many, D reads that many.
    **widths: ignored (the config's flags already set every width).
  """
  del widths
  g, d = shape_flags(config, data_dim)
  return Generator(**g), Discriminator(**d)
