"""Layers shared by the models: pylearn2's uniform init, maxout (dense and convolutional),
cuda-convnet's max pooling and untied biases."""

import math
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
  'relu': nn.relu,
  'sigmoid': nn.sigmoid,
  'tanh': jnp.tanh,
  'leaky_relu': nn.leaky_relu,
}


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


class Maxout(nn.Module):
  """A maxout layer: the max over `pieces` consecutive linear pieces of each unit (pylearn2)."""

  units: int
  pieces: int
  kernel_init: nn.initializers.Initializer

  @nn.compact
  def __call__(self, x: Array) -> Array:
    y = nn.Dense(self.units * self.pieces, kernel_init=self.kernel_init)(x)
    return y.reshape(*y.shape[:-1], self.units, self.pieces).max(axis=-1)


def pooled_size(size: int, pool: int, stride: int) -> int:
  """cuda-convnet's pooled size, ceil((size - pool) / stride) + 1: the last window may overhang."""
  return -(-(size - pool) // stride) + 1


def max_pool_convnet(x: Array, pool: int, stride: int) -> Array:
  """Max pooling [N, H, W, C] sized as cuda-convnet's (pylearn2's MaxoutConvC01B pools with it).

  The overhanging last window sees only the pixels inside the image: padding with -inf (what
  flax's max_pool pads with) leaves the max of the real ones.
  """
  pads = []
  for size in x.shape[1:3]:
    out = pooled_size(size, pool, stride)
    pads.append((0, (out - 1) * stride + pool - size))
  return nn.max_pool(x, (pool, pool), strides=(stride, stride), padding=pads)


class MaxoutConv(nn.Module):
  """pylearn2's MaxoutConvC01B: zero-pad, valid convolution to channels x pieces (one bias per
  detector channel: tied_b), max over each channel's consecutive pieces, then max pooling."""

  channels: int
  pieces: int
  kernel: int
  pad: int
  pool: int
  pool_stride: int
  kernel_init: nn.initializers.Initializer

  @nn.compact
  def __call__(self, x: Array) -> Array:
    y = nn.Conv(
      self.channels * self.pieces,
      (self.kernel, self.kernel),
      padding=[(self.pad, self.pad)] * 2,
      kernel_init=self.kernel_init,
    )(x)
    y = y.reshape(*y.shape[:-1], self.channels, self.pieces).max(axis=-1)
    return max_pool_convnet(y, self.pool, self.pool_stride)


class UntiedBias(nn.Module):
  """A bias per output value (channel, row and column): pylearn2's tied_b = 0."""

  @nn.compact
  def __call__(self, x: Array) -> Array:
    return x + self.param('bias', nn.initializers.zeros, x.shape[1:], jnp.float32)
