"""The training state (one immutable pytree) and the static description of the game."""

import dataclasses
import math

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.base.config import Config
from gan_jax.game import models, optim, preprocess

Params = flax.core.FrozenDict | dict


@flax.struct.dataclass
class Average:
  """An exponential moving average of G's parameters (Polyak averaging; Yazici et al. 2019,
  "The unusual effectiveness of averaging in GAN training").

  Its numbers live here as arrays, not in the static game, so members of a population that
  differ only in them share one compiled step.
  """

  params: Params
  decay: jax.Array  # d, float32 []
  warmup: jax.Array  # w, float32 []: update t uses min(d, (1 + t) / (w + t))

  def update(self, g_params: Params, t: jax.Array) -> 'Average':
    """The average after update t (0-based) brought G to `g_params`."""
    t = t.astype(jnp.float32)
    decay = jnp.minimum(self.decay, (1.0 + t) / (self.warmup + t))
    params = jax.tree.map(lambda a, p: a + (1.0 - decay) * (p - a), self.params, g_params)
    return self.replace(params=params)


@flax.struct.dataclass
class TrainState:
  """Everything that changes during training; orbax checkpoints exactly this.

  `step` counts iterations: one G update (after `d_steps` D updates). All randomness of step t
  is drawn from `fold_in(rng, t)`, so a resumed run draws what an uninterrupted run would.
  `g_average` is the moving average of G's parameters (--g_ema_decay), None without one.
  `class_mix` is a conditional model's class prior p(y), float32 [num_classes] (the training
  split's class frequencies, fixed): the labels G is given in training, and when sampled without
  labels, are drawn from it. None for an unconditional model.
  """

  step: jax.Array
  g_params: Params
  d_params: Params
  g_opt_state: optax.OptState
  d_opt_state: optax.OptState
  rng: jax.Array
  g_average: Average | None = None
  class_mix: jax.Array | None = None

  def generator_params(self, *, raw: bool = False) -> Params:
    """The G to sample, show and evaluate: the average when the run keeps one (unless `raw`),
    else G itself."""
    return self.g_params if raw or self.g_average is None else self.g_average.params


@dataclasses.dataclass(frozen=True, eq=False)
class GAN:
  """What stays fixed during a run: the networks, optimisers and rules of the game.

  Bound into the traced functions with functools.partial; never part of the state.
  """

  generator: flax.linen.Module  # flat [N, noise_dim] -> [N, data_dim]; has `output_dim`
  discriminator: flax.linen.Module  # flat [N, data_dim] -> logits [N]
  g_tx: optax.GradientTransformation
  d_tx: optax.GradientTransformation
  noise_dim: int
  noise_prior: str
  g_loss: str
  update: str
  d_steps: int
  batch_size: int
  steps_per_epoch: int
  # What the nets see of a pixel ('pixels' or 'gcn') and whether G's output is 'sigmoid' or
  # 'linear'; together they say how samples are shown.
  preprocessing: str = 'pixels'
  output: str = 'sigmoid'
  # The moving average of G (Average): kept when g_ema_decay > 0; these are its initial
  # numbers, the state holds the ones in use.
  g_ema_decay: float = 0.0
  g_ema_warmup: float = 10.0
  # A conditional model's number of classes (labels are 0..num_classes-1); 0: unconditional.
  num_classes: int = 0

  @property
  def conditional(self) -> bool:
    return self.num_classes > 0

  def prepare(self, images: jax.Array) -> jax.Array:
    """Real data as the nets see it: uint8 examples [..., data_dim] -> float32."""
    x = images.astype(jnp.float32) / 255.0
    return preprocess.gcn(x) if self.preprocessing == 'gcn' else x

  def to_display(self, x: jax.Array) -> jax.Array:
    """Network-space examples [N, data_dim] -> [0, 1] for grids and the evaluation: GCN'd ones
    contrast-stretched per image (see gan_jax.game.preprocess), a linear output clipped."""
    if self.preprocessing == 'gcn':
      return preprocess.stretch(x, xp=jnp)
    return x if self.output == 'sigmoid' else jnp.clip(x, 0.0, 1.0)

  def generate_display(self, g_params: Params, z: jax.Array, labels=None) -> jax.Array:
    """G(z) (G(z, y) for a conditional model) in [0, 1] for showing and evaluating (see
    to_display)."""
    return self.to_display(self.generate(g_params, z, labels))

  def sample_noise(self, key: jax.Array, num: int) -> jax.Array:
    return models.sample_noise(key, (num, self.noise_dim), self.noise_prior)

  def sample_labels(self, key: jax.Array, class_mix: jax.Array, shape) -> jax.Array:
    """Labels int32 `shape` drawn from the class prior `class_mix` ([num_classes])."""
    return jax.random.categorical(key, jnp.log(class_mix), shape=shape).astype(jnp.int32)

  def _condition(self, labels) -> tuple:
    """The extra inputs of the nets: (one-hot y,) for a conditional model, () otherwise."""
    if not self.conditional:
      if labels is not None:
        raise ValueError('labels were given to an unconditional model')
      return ()
    if labels is None:
      raise ValueError('a conditional model needs the labels of what it generates or judges')
    return (jax.nn.one_hot(labels, self.num_classes, dtype=jnp.float32),)

  def generate(self, g_params: Params, z: jax.Array, labels=None) -> jax.Array:
    """G(z) (or G(z, y), `labels` int [N]), flat [N, data_dim]: pixels in [0, 1] for a sigmoid
    output layer, real values for a linear one. G has no dropout: train and test agree."""
    return self.generator.apply({'params': g_params}, z, *self._condition(labels))

  def discriminate(
    self, d_params: Params, x: jax.Array, labels=None, *, dropout_key=None
  ) -> jax.Array:
    """D's logits (D(x, y) for a conditional model); with a dropout key, the training-mode
    (dropped-out) pass."""
    y = self._condition(labels)
    if dropout_key is None:
      return self.discriminator.apply({'params': d_params}, x, *y, train=False)
    return self.discriminator.apply(
      {'params': d_params}, x, *y, train=True, rngs={'dropout': dropout_key}
    )


def build_gan(
  config: Config,
  *,
  data_dim: int,
  num_train: int | None = None,
  num_classes: int = 0,
  **widths,
) -> GAN:
  """The static game for `config` on examples of `data_dim` values in `num_classes` classes.

  Args:
    config: the experiment.
    data_dim: values per example.
    num_train: training examples, which set the epoch of the optimisers' schedules and of the
      minibatch order; None for a game that is only sampled, evaluated or restored (its epoch
      is then one batch: the schedules live in the optimiser states' numbers, not their shapes).
    num_classes: the data set's classes; a conditional model needs them (0: unconditional).
    **widths: override the model's layer widths (tests use small ones).
  """
  steps_per_epoch = max((num_train or 0) // config.batch_size, 1)
  model = models.get(config.model)
  if model.conditional and num_classes < 2:
    raise ValueError(f'--model={config.model} is conditional: it needs a data set of classes')
  generator, discriminator = model.build(config, data_dim, **widths)

  def optimizer(learning_rate: float) -> optax.GradientTransformation:
    return optim.make_optimizer(
      config.optimizer,
      learning_rate=learning_rate,
      lr_decay=config.lr_decay,
      min_learning_rate=config.min_learning_rate,
      momentum=config.momentum,
      final_momentum=config.final_momentum,
      momentum_saturate_epoch=config.momentum_saturate_epoch,
      adam_b1=config.adam_b1,
      adam_b2=config.adam_b2,
      steps_per_epoch=steps_per_epoch,
    )

  return GAN(
    generator=generator,
    discriminator=discriminator,
    # Each optimiser counts its own updates: D's schedules run in data epochs (one batch per
    # D update), G's in iterations; the two agree for the original code's d_steps = 1.
    g_tx=optimizer(config.learning_rate),
    d_tx=optimizer(config.discriminator_learning_rate),
    noise_dim=config.noise_dim,
    noise_prior=config.noise_prior,
    g_loss=config.g_loss,
    update=config.update,
    d_steps=config.d_steps,
    batch_size=config.batch_size,
    steps_per_epoch=steps_per_epoch,
    preprocessing=config.resolved_preprocessing,
    output=model.output,
    g_ema_decay=config.g_ema_decay,
    g_ema_warmup=config.g_ema_warmup,
    num_classes=num_classes if model.conditional else 0,
  )


def create_train_state(
  gan: GAN,
  seed: int | jax.Array,
  output_bias: np.ndarray | None,
  class_mix: np.ndarray | None = None,
) -> TrainState:
  """Initial state; `output_bias` (logits, [data_dim]) replaces G's output bias when given;
  `class_mix` ([num_classes], summing to 1) is a conditional model's class prior p(y).

  Traceable (jit it with out_shardings to build the state directly on the devices).
  """
  rng = jax.random.PRNGKey(seed) if isinstance(seed, int) else seed
  g_key, d_key, run_key = jax.random.split(rng, 3)
  data_dim = gan.generator.output_dim
  y = (jnp.zeros((1, gan.num_classes)),) if gan.conditional else ()
  g_params = gan.generator.init(g_key, jnp.zeros((1, gan.noise_dim)), *y)['params']
  d_params = gan.discriminator.init(d_key, jnp.zeros((1, data_dim)), *y, train=False)['params']
  if gan.conditional != (class_mix is not None):
    raise ValueError('a conditional model needs a class_mix, an unconditional one none')
  if output_bias is not None:
    g_params = flax.core.unfreeze(g_params)
    g_params['output']['bias'] = jnp.asarray(output_bias, jnp.float32)
  average = None
  if gan.g_ema_decay > 0:
    average = Average(
      params=jax.tree.map(jnp.copy, g_params),
      decay=jnp.asarray(gan.g_ema_decay, jnp.float32),
      warmup=jnp.asarray(gan.g_ema_warmup, jnp.float32),
    )
  return TrainState(
    step=jnp.zeros([], jnp.int32),
    g_params=g_params,
    d_params=d_params,
    g_opt_state=gan.g_tx.init(g_params),
    d_opt_state=gan.d_tx.init(d_params),
    rng=run_key,
    g_average=average,
    class_mix=None if class_mix is None else jnp.asarray(class_mix, jnp.float32),
  )


def param_count(params: Params) -> int:
  return sum(math.prod(x.shape) for x in jax.tree.leaves(params))
