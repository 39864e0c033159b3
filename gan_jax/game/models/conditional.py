"""Conditional networks, G(z, y) and D(x, y): the extension of the paper's section 7.

"A conditional generative model p(x | c) can be obtained by adding c as input to both G and D"
(Goodfellow et al. 2014, section 7). Two ways to add it, each a registered model:

`mnist_cgan`: Mirza & Osindero (2014, "Conditional Generative Adversarial Nets", section 4.1),
  whose MNIST networks give y a pathway of its own in each net:
    G: z (100, uniform) -> 200 ReLU; y -> 1000 ReLU; both -> 1200 ReLU -> 784 sigmoid.
    D: x -> maxout 240 units x 5 pieces; y -> maxout 50 x 5; both -> maxout 240 x 4 -> sigmoid.
  Their section 4.1 gives the sizes above, the optimiser (SGD, batch 100, lr 0.1 / 1.00004^t
  down to 1e-6, momentum 0.5 -> 0.7) and "dropout with probability of 0.5"; it does not say
  where the dropout sits nor how weights start. Here dropout 0.5 drops the inputs of D's joint
  layer and of its output (the hidden units only: dropping the one-hot y itself would hide the
  condition), G has none (so samples need no dropout mode), and weights start as the paper's
  MNIST nets (G U(±0.05), D U(±0.005)).
`mnist_mlp_cgan`: the paper's own MNIST networks (gan_jax.game.models.mnist_mlp) with y
  concatenated to G's input and to D's input, every other layer as the config's shape flags say:
  the smallest change that conditions them, for comparison with `mnist_cgan`.

y arrives one-hot, float32 [N, num_classes] (GAN.generate/discriminate encode the labels).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.game.models import mnist_mlp
from gan_jax.game.models.layers import Maxout, uniform_init

Array = jax.Array

# Mirza & Osindero's MNIST widths (section 4.1); tests shrink them.
WIDTHS = {
  'g_noise_units': 200,
  'g_label_units': 1000,
  'g_joint_units': 1200,
  'd_image_units': 240,
  'd_image_pieces': 5,
  'd_label_units': 50,
  'd_label_pieces': 5,
  'd_joint_units': 240,
  'd_joint_pieces': 4,
}
D_KEEP_PROB = 0.5
G_INIT_SCALE = 0.05
D_INIT_SCALE = 0.005


class MirzaGenerator(nn.Module):
  """G(z, y): z and y each through a ReLU layer, joined in a ReLU layer, then sigmoid pixels."""

  output_dim: int = 784
  noise_units: int = WIDTHS['g_noise_units']
  label_units: int = WIDTHS['g_label_units']
  joint_units: int = WIDTHS['g_joint_units']
  init_scale: float = G_INIT_SCALE

  @nn.compact
  def __call__(self, z: Array, y: Array) -> Array:
    init = uniform_init(self.init_scale)
    hz = nn.relu(nn.Dense(self.noise_units, kernel_init=init, name='noise')(z))
    hy = nn.relu(nn.Dense(self.label_units, kernel_init=init, name='label')(y))
    h = jnp.concatenate([hz, hy], axis=-1)
    h = nn.relu(nn.Dense(self.joint_units, kernel_init=init, name='joint')(h))
    return nn.sigmoid(nn.Dense(self.output_dim, kernel_init=init, name='output')(h))


class MirzaDiscriminator(nn.Module):
  """D(x, y) as a logit: x and y each through a maxout layer, joined in a maxout layer."""

  image_units: int = WIDTHS['d_image_units']
  image_pieces: int = WIDTHS['d_image_pieces']
  label_units: int = WIDTHS['d_label_units']
  label_pieces: int = WIDTHS['d_label_pieces']
  joint_units: int = WIDTHS['d_joint_units']
  joint_pieces: int = WIDTHS['d_joint_pieces']
  init_scale: float = D_INIT_SCALE
  keep_prob: float = D_KEEP_PROB

  @nn.compact
  def __call__(self, x: Array, y: Array, *, train: bool) -> Array:
    init = uniform_init(self.init_scale)
    hx = Maxout(self.image_units, self.image_pieces, init, name='image')(x)
    hy = Maxout(self.label_units, self.label_pieces, init, name='label')(y)
    h = jnp.concatenate([hx, hy], axis=-1)
    h = nn.Dropout(1.0 - self.keep_prob, deterministic=not train)(h)
    h = Maxout(self.joint_units, self.joint_pieces, init, name='joint')(h)
    h = nn.Dropout(1.0 - self.keep_prob, deterministic=not train)(h)
    return nn.Dense(1, kernel_init=init, name='output')(h)[..., 0]


class ConcatGenerator(mnist_mlp.Generator):
  """The paper's G on [z, y] (its layers, named as mnist_mlp's)."""

  def __call__(self, z: Array, y: Array) -> Array:
    return super().__call__(jnp.concatenate([z, y], axis=-1))


class ConcatDiscriminator(mnist_mlp.Discriminator):
  """The paper's D on [x, y] (its input dropout drops the pixels and y alike, as any input)."""

  def __call__(self, x: Array, y: Array, *, train: bool) -> Array:
    return super().__call__(jnp.concatenate([x, y], axis=-1), train=train)


def build_mirza(config, data_dim: int, **widths) -> tuple[MirzaGenerator, MirzaDiscriminator]:
  """Mirza & Osindero's nets; `widths` (keys of WIDTHS) override theirs."""
  del config
  w = {**WIDTHS, **widths}
  g = MirzaGenerator(data_dim, w['g_noise_units'], w['g_label_units'], w['g_joint_units'])
  d = MirzaDiscriminator(
    w['d_image_units'],
    w['d_image_pieces'],
    w['d_label_units'],
    w['d_label_pieces'],
    w['d_joint_units'],
    w['d_joint_pieces'],
  )
  return g, d


def build_concat(config, data_dim: int, **widths) -> tuple[ConcatGenerator, ConcatDiscriminator]:
  """The paper's nets with y concatenated to their inputs, shaped by the config's flags."""
  del widths
  g, d = mnist_mlp.shape_flags(config, data_dim)
  return ConcatGenerator(**g), ConcatDiscriminator(**d)
