"""`cifar10_fc`: the original code's fully connected CIFAR-10 GAN (cifar10_fully_connected.yaml).

G: Dense 8000 ReLU (U±.05) -> Dense 8000 sigmoid (U±.05) -> Dense 3072 linear (U±.5, bias 0:
the config has no marginal bias, and its data is contrast-normalised, not [0, 1]).
D: maxout 1600x5 -> maxout 1600x5 -> Dense 1 sigmoid, all U±.005; dropout keep .8 on the pixels,
.5 before each later layer. The widths are fixed by the original config, not by the shape flags.
"""

from typing import Sequence

import flax.linen as nn
import jax

from gan_jax.game.models.layers import ACTIVATIONS, uniform_init
from gan_jax.game.models.mnist_mlp import Discriminator

Array = jax.Array

# The paper's sizes. Tests shrink them (monkeypatch) to train in seconds; the shape test checks
# these numbers.
WIDTHS = {'g_hidden': (8000, 8000), 'd_units': (1600, 1600)}
D_PIECES = 5
G_ACTIVATIONS = ('relu', 'sigmoid')
G_INIT_SCALES = (0.05, 0.05, 0.5)  # the two hidden layers, then the output layer
D_INIT_SCALE = 0.005
D_KEEP_PROBS = (0.8, 0.5, 0.5)
# The original config's training recipe; its flagfile (cifar10_fc.flags) sets the same values.
RECIPE = {
  'dataset': 'cifar10',
  'noise_prior': 'normal',
  'noise_dim': 100,
  'batch_size': 100,
  'learning_rate': 0.025,
  'lr_decay': 1.000004,
  'min_learning_rate': 1e-6,
  'momentum': 0.5,
  'final_momentum': 0.7,
  'momentum_saturate_epoch': 250,
  'update': 'simultaneous',
  'g_loss': 'non_saturating',
  'optimizer': 'sgd_momentum',
}


class Generator(nn.Module):
  """G(z): Dense hidden layers with per-layer activations, then a linear output."""

  hidden: Sequence[int] = WIDTHS['g_hidden']
  activations: Sequence[str] = G_ACTIVATIONS
  init_scales: Sequence[float] = G_INIT_SCALES
  output_dim: int = 3072

  @nn.compact
  def __call__(self, z: Array) -> Array:
    h = z
    for i, (width, act) in enumerate(zip(self.hidden, self.activations)):
      h = ACTIVATIONS[act](
        nn.Dense(width, kernel_init=uniform_init(self.init_scales[i]), name=f'hidden_{i}')(h)
      )
    return nn.Dense(self.output_dim, kernel_init=uniform_init(self.init_scales[-1]), name='output')(
      h
    )


def build(config, data_dim: int, **widths) -> tuple[Generator, Discriminator]:
  """G and D of the original config for data of `data_dim` values (3072 for CIFAR-10).

  Args:
    config: the experiment; only the noise flags matter here (the nets are fixed).
    data_dim: values per example.
    **widths: overrides of WIDTHS (tests).
  """
  del config
  w = {**WIDTHS, **widths}
  return (
    Generator(hidden=tuple(w['g_hidden']), output_dim=data_dim),
    Discriminator(
      units=tuple(w['d_units']), pieces=D_PIECES, init_scale=D_INIT_SCALE, keep_probs=D_KEEP_PROBS
    ),
  )
