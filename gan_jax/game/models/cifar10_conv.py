"""`cifar10_conv`: the original code's convolutional CIFAR-10 GAN (cifar10_convolutional.yaml).

G: Dense 8000 ReLU -> Dense 8000 sigmoid (U±.05) -> reshape 80x10x10 -> transposed convolution
to 3 channels, kernel 5, stride 3 (9 * 3 + 5 = 32), U±.05, untied biases (tied_b: 0, one per
channel, row and column), linear output.
D: three maxout-conv layers (tied biases), a maxout 500x5 layer and a sigmoid unit, all U±.005;
dropout keep .8 on the pixels, .5 before each later layer. Pooling is cuda-convnet's:
33 -> 16, 15 -> 7, 9 -> 5, so D's last conv layer gives 5 x 5 x 192 = 4,800 values.

Both nets take and give flat [N, 3072] examples (HWC order, as the data is stored), so the game,
losses and data pipeline are the same as for the MLPs.
"""

from typing import Sequence

import flax.linen as nn
import jax

from gan_jax.game.models import cifar10_fc
from gan_jax.game.models.layers import Maxout, MaxoutConv, UntiedBias, uniform_init

Array = jax.Array

IMAGE_SHAPE = (32, 32, 3)
# The paper's sizes. Tests shrink them (monkeypatch) to train in seconds; the shape test checks
# these numbers. g_hidden[-1] must be g_channels * 10 * 10.
WIDTHS = {'g_hidden': (8000, 8000), 'g_channels': 80, 'd_channels': (32, 32, 192), 'd_units': 500}
G_SPATIAL = 10
G_KERNEL, G_STRIDE = 5, 3
G_INIT_SCALE = 0.05
# (pieces, kernel, pad, pool, pool stride) of each maxout-conv layer of D.
D_CONV = ((2, 8, 4, 4, 2), (2, 8, 3, 4, 2), (2, 5, 3, 2, 2))
D_PIECES = 5
D_INIT_SCALE = 0.005
D_KEEP_PROBS = (0.8, 0.5, 0.5, 0.5, 0.5)
# The original config's recipe: the fully connected model's, with its own batch and rate.
RECIPE = {**cifar10_fc.RECIPE, 'batch_size': 128, 'learning_rate': 0.004}


class Generator(nn.Module):
  """G(z) -> flat [N, 3072] images, linear output."""

  hidden: Sequence[int] = WIDTHS['g_hidden']
  channels: int = WIDTHS['g_channels']

  @property
  def output_dim(self) -> int:
    return IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]

  @nn.compact
  def __call__(self, z: Array) -> Array:
    init = uniform_init(G_INIT_SCALE)
    h = nn.relu(nn.Dense(self.hidden[0], kernel_init=init, name='hidden_0')(z))
    h = nn.sigmoid(nn.Dense(self.hidden[1], kernel_init=init, name='hidden_1')(h))
    # pylearn2's SpaceConverter to ('c', 0, 1, 'b'): channel-major, then NHWC for flax.
    h = h.reshape(-1, self.channels, G_SPATIAL, G_SPATIAL).transpose(0, 2, 3, 1)
    h = nn.ConvTranspose(
      IMAGE_SHAPE[2],
      (G_KERNEL, G_KERNEL),
      strides=(G_STRIDE, G_STRIDE),
      padding='VALID',
      use_bias=False,
      kernel_init=init,
      name='deconv',
    )(h)
    h = UntiedBias(name='deconv_bias')(h)
    return h.reshape(h.shape[0], -1)


class Discriminator(nn.Module):
  """D(x) as a logit, from flat [N, 3072] images."""

  channels: Sequence[int] = WIDTHS['d_channels']
  units: int = WIDTHS['d_units']

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    init = uniform_init(D_INIT_SCALE)
    h = x.reshape(-1, *IMAGE_SHAPE)
    for i, (channels, (pieces, kernel, pad, pool, stride)) in enumerate(zip(self.channels, D_CONV)):
      h = nn.Dropout(1.0 - D_KEEP_PROBS[i], deterministic=not train)(h)
      h = MaxoutConv(channels, pieces, kernel, pad, pool, stride, init, name=f'maxout_conv_{i}')(h)
    h = h.reshape(h.shape[0], -1)
    h = nn.Dropout(1.0 - D_KEEP_PROBS[3], deterministic=not train)(h)
    h = Maxout(self.units, D_PIECES, init, name='maxout_3')(h)
    h = nn.Dropout(1.0 - D_KEEP_PROBS[4], deterministic=not train)(h)
    return nn.Dense(1, kernel_init=init, name='output')(h)[..., 0]


def build(config, data_dim: int, **widths) -> tuple[Generator, Discriminator]:
  """G and D of the original config; CIFAR-10 images only (data_dim 3072).

  Args:
    config: the experiment; only the noise flags matter here (the nets are fixed).
    data_dim: values per example; must be 32 * 32 * 3.
    **widths: overrides of WIDTHS (tests).
  """
  del config
  if data_dim != 32 * 32 * 3:
    raise ValueError(f'cifar10_conv takes 32x32x3 images (3072 values), got {data_dim} values')
  w = {**WIDTHS, **widths}
  if w['g_hidden'][-1] != w['g_channels'] * G_SPATIAL**2:
    raise ValueError(f'g_hidden[-1]={w["g_hidden"][-1]} must be g_channels * {G_SPATIAL**2}')
  return (
    Generator(hidden=tuple(w['g_hidden']), channels=w['g_channels']),
    Discriminator(channels=tuple(w['d_channels']), units=w['d_units']),
  )
