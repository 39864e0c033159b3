"""The networks, chosen by name (--model): a registry of generator/discriminator pairs.

  G, D = models.get('cifar10_conv').build(config, data_dim=3072)

Each model lives in its own module with a `build(config, data_dim, **widths)` returning
(generator, discriminator) flax modules that map flat [N, data_dim] examples; a generator has an
`output_dim`. Adding a model is adding a module, its row of facts in gan_jax.base.config.MODELS
(its output, default preprocessing and data sets, which a Config checks before any network
exists) and one `register` line below.
"""

import dataclasses
from typing import Callable

from gan_jax.base import config as config_lib
from gan_jax.game.models import cifar10_conv, cifar10_fc, conditional, mnist_mlp
from gan_jax.game.models.layers import ACTIVATIONS, Maxout, sample_noise, uniform_init
from gan_jax.game.models.mnist_mlp import Discriminator, Generator, marginal_logits

__all__ = [
  'ACTIVATIONS',
  'Discriminator',
  'Generator',
  'Maxout',
  'Model',
  'get',
  'marginal_logits',
  'names',
  'register',
  'sample_noise',
  'uniform_init',
]


@dataclasses.dataclass(frozen=True)
class Model:
  """A registered model: the networks of a row of gan_jax.base.config.MODELS.

  Attributes:
    name: the --model value, a key of config.MODELS.
    build: (config, data_dim, **widths) -> (generator, discriminator).
    image_shape: the only image shape it takes, or None (any: it flattens).
    recipe: the original config's flag values (its flagfile sets them), or {}.
    widths: the module's width table (tests shrink it), or {}.
    conditional: G(z, y) and D(x, y), y one-hot over the data set's classes (GAN.generate and
      GAN.discriminate take the labels); else G(z) and D(x).
  """

  name: str
  build: Callable
  image_shape: tuple[int, int, int] | None = None
  recipe: dict = dataclasses.field(default_factory=dict)
  widths: dict = dataclasses.field(default_factory=dict)
  conditional: bool = False

  @property
  def output(self) -> str:
    """'sigmoid' (pixels in [0, 1]; G's output bias may start at the marginals' logits) or
    'linear' (real values; the bias starts at 0)."""
    return config_lib.MODELS[self.name].output

  @property
  def preprocessing(self) -> str:
    """What --preprocessing=default means for it: 'pixels' ([0, 1]) or 'gcn'."""
    return config_lib.MODELS[self.name].preprocessing


_REGISTRY: dict[str, Model] = {}


def register(model: Model) -> Model:
  if model.name not in config_lib.MODELS:
    raise ValueError(
      f'model {model.name!r} has no row in gan_jax.base.config.MODELS (its output, '
      'preprocessing and data sets); add one'
    )
  if model.name in _REGISTRY:
    raise ValueError(f'model {model.name!r} is already registered')
  _REGISTRY[model.name] = model
  return model


def get(name: str) -> Model:
  if name not in _REGISTRY:
    raise ValueError(f'unknown model {name!r}; registered: {", ".join(_REGISTRY)}')
  return _REGISTRY[name]


def names() -> tuple[str, ...]:
  return tuple(_REGISTRY)


register(Model('mnist_mlp', mnist_mlp.build))
register(
  Model(
    'cifar10_fc',
    cifar10_fc.build,
    image_shape=(32, 32, 3),
    recipe=cifar10_fc.RECIPE,
    widths=cifar10_fc.WIDTHS,
  )
)
register(
  Model(
    'cifar10_conv',
    cifar10_conv.build,
    image_shape=cifar10_conv.IMAGE_SHAPE,
    recipe=cifar10_conv.RECIPE,
    widths=cifar10_conv.WIDTHS,
  )
)
register(
  Model(
    'mnist_cgan',
    conditional.build_mirza,
    widths=conditional.WIDTHS,
    conditional=True,
  )
)
register(
  Model(
    'mnist_mlp_cgan',
    conditional.build_concat,
    conditional=True,
  )
)
