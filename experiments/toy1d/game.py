"""The 1-D game, played with the library's own state, step and losses, and seen on grids.

p_data is a Gaussian (or a two-mode mixture) on the line, z is uniform on (-sqrt 3, sqrt 3),
G is a ReLU MLP with a linear output, D a maxout MLP without dropout. Everything the figures
and the theory need is read off a fine grid of x cells and a fine grid of z points, so p_g is
the exact push-forward of p_z through G (`theory.pushforward_density`), not a sample estimate.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import special

from experiments.toy1d import theory
from experiments.toy1d.config import Data1D, ToyConfig
from gan_jax.game import models, steps
from gan_jax.game.state import GAN, TrainState, create_train_state

Array = jax.Array
# Data batches get their own stream, apart from the step's noise keys fold_in(rng, step).
_DATA_STREAM = 0xDA7A


def make_gan(config: ToyConfig) -> GAN:
  """The library's GAN bundle with 1-D nets: G a linear-output MLP, D maxout without dropout."""

  def adam(learning_rate, updates_per_step):
    # D's optimiser counts D updates: k per iteration.
    lr = optax.cosine_decay_schedule(
      learning_rate, config.num_steps * updates_per_step, alpha=config.final_lr_fraction
    )
    return optax.adam(lr, b1=0.5)

  return GAN(
    generator=models.Generator(
      hidden=config.g_hidden, output_dim=1, init_scale=config.init_scale, output_activation='linear'
    ),
    discriminator=models.Discriminator(
      units=config.d_units,
      pieces=config.d_pieces,
      init_scale=config.init_scale,
      keep_probs=(1.0,) * (len(config.d_units) + 1),
    ),
    g_tx=adam(config.g_learning_rate, 1),
    d_tx=adam(config.d_learning_rate, config.d_steps),
    noise_dim=1,
    noise_prior='uniform',
    g_loss=config.g_loss,
    update=config.update,
    d_steps=config.d_steps,
    batch_size=config.batch_size,
    steps_per_epoch=1,
  )


def frozen(tx: optax.GradientTransformation) -> optax.GradientTransformation:
  """`tx` that moves nothing: zero updates, its state passed through untouched."""

  def update(updates, state, params=None):
    del params
    return jax.tree.map(jnp.zeros_like, updates), state

  return optax.GradientTransformation(tx.init, update)


def freeze(gan: GAN, net: str) -> GAN:
  """The same game with the 'generator' or the 'discriminator' held fixed."""
  if net == 'generator':
    return dataclasses.replace(gan, g_tx=frozen(gan.g_tx))
  if net == 'discriminator':
    return dataclasses.replace(gan, d_tx=frozen(gan.d_tx))
  raise ValueError(f'unknown net {net!r}')


def train(
  state: TrainState, *, gan: GAN, data: Data1D, num_steps: int
) -> tuple[TrainState, dict[str, Array]]:
  """`num_steps` iterations of the library's `steps.train_step` in one lax.scan, on fresh data.

  Step t's batches come from fold_in(rng, t) in their own stream, so they do not depend on how
  the steps are split into calls.
  """

  def body(state, _):
    key = jax.random.fold_in(jax.random.fold_in(state.rng, _DATA_STREAM), state.step)
    x = data.sample(key, (gan.d_steps, gan.batch_size, 1))
    return steps.train_step(state, x, gan=gan)

  return jax.lax.scan(body, state, None, length=num_steps)


@functools.cache
def trainer(gan: GAN, data: Data1D, num_steps: int):
  """`train` compiled for this game, once per (game, data, num_steps); the input state's
  buffers are donated.

  Several states (seeds, checkpoints) go through one compiled function in turn: on the CPU,
  vmap over states of nets this small was slower than a loop.
  """
  return jax.jit(
    functools.partial(train, gan=gan, data=data, num_steps=num_steps), donate_argnums=0
  )


@jax.jit
def copy_state(state: TrainState) -> TrainState:
  """A copy to donate, so the caller's state stays valid (one compiled copy of every leaf: leaf
  by leaf, eager copies took 7 of the 23 s of the toy experiments' test run)."""
  return jax.tree.map(jnp.copy, state)


@functools.cache
def discriminator_game(gan: GAN, config: ToyConfig) -> GAN:
  """The game in which only D learns (G fixed): constant-rate Adam on larger batches.

  One object per (game, config), so its compiled trainer is shared by every fit.
  """
  return dataclasses.replace(
    freeze(gan, 'generator'),
    d_tx=optax.adam(config.d_fit_learning_rate),
    update='alternating',
    d_steps=1,
    batch_size=config.d_fit_batch_size,
  )


def start_fit(state: TrainState, gan: GAN, config: ToyConfig) -> TrainState:
  """`state` ready for `discriminator_game`: a copy, with a fresh D optimiser state."""
  fit_gan = discriminator_game(gan, config)
  return copy_state(state).replace(d_opt_state=fit_gan.d_tx.init(state.d_params))


def fit_discriminator(states: list[TrainState], gan: GAN, config: ToyConfig) -> list[TrainState]:
  """D trained towards D* (Proposition 1) for `d_fit_steps` with each state's G fixed.

  D starts from the state's D with a fresh optimiser; the returned states keep the game's own
  D optimiser state, so they remain states of `gan`.
  """
  run = trainer(discriminator_game(gan, config), config.data_distribution, config.chunk_steps)
  fitted = []
  for state in states:
    new = start_fit(state, gan, config)
    for _ in range(config.d_fit_steps // config.chunk_steps):
      new, _ = run(new)
    fitted.append(new.replace(d_opt_state=state.d_opt_state))
  return fitted


def initial_state(
  gan: GAN, config: ToyConfig, seed: int, center: float | None = None
) -> TrainState:
  """The library's initial state, G's output bias set to `config.g_output_bias`, or, given
  `center`, to whatever puts the median of G(z) there."""
  state = create_train_state(gan, seed, np.array([config.g_output_bias], np.float32))
  if center is None:
    return state
  g_of_z, _ = _curves(state, jnp.zeros(1), jnp.asarray(config.z_grid(), jnp.float32), gan=gan)
  median = float(np.median(g_of_z))
  bias = np.array([config.g_output_bias + center - median], np.float32)
  return create_train_state(gan, seed, bias)


def play(state: TrainState, gan: GAN, config: ToyConfig, num_steps: int) -> list[TrainState]:
  """Plays the game from `state` for `num_steps`; the states at `config.checkpoints`."""
  run = trainer(gan, config.data_distribution, config.chunk_steps)
  checkpoints = set(config.checkpoints(num_steps))
  states = [state]
  for step in range(config.chunk_steps, num_steps + 1, config.chunk_steps):
    state, _ = run(copy_state(state))
    if step in checkpoints:
      states.append(state)
  return states


def early_index(config: ToyConfig) -> int:
  """The index of Figure 1's panel (a) among the main game's checkpoints."""
  return config.checkpoints(config.num_steps).index(config.early_step)


def run_game(config: ToyConfig) -> tuple[GAN, list[TrainState]]:
  """Trains the main game; returns it and its states at each checkpoint."""
  gan = make_gan(config)
  return gan, play(initial_state(gan, config, config.seed), gan, config, config.num_steps)


# ----------------------------------------------------------------------------- measurements


@functools.partial(jax.jit, static_argnames='gan')
def _curves(state: TrainState, x: Array, z: Array, *, gan: GAN) -> tuple[Array, Array]:
  """G on the z grid and D's logits on the x grid."""
  return (
    gan.generate(state.g_params, z[:, None])[:, 0],
    gan.discriminate(state.d_params, x[:, None]),
  )


@dataclasses.dataclass
class Snapshot:
  """One state seen on the grids: G(z), p_g (exact push-forward), D(x) and p_data."""

  step: int
  x: np.ndarray
  p_data: np.ndarray
  g_of_z: np.ndarray
  p_g: np.ndarray
  d: np.ndarray

  @property
  def d_star(self) -> np.ndarray:
    return theory.optimal_discriminator(self.p_data, self.p_g)

  def measures(self) -> dict[str, float]:
    """Theorem 1's quantities and Proposition 1's error for this state's D."""
    mask = theory.support_mask(self.p_data, self.p_g)
    errors = theory.discriminator_errors(self.d, self.d_star, mask)
    return {
      'c_of_g': theory.c_of_g(self.p_data, self.p_g, self.x),
      'value': theory.value(self.p_data, self.p_g, self.d, self.x),
      'jsd': theory.jsd(self.p_data, self.p_g, self.x),
      'd_on_support': float(np.sum(self.p_data * self.d) * theory.grid_step(self.x)),
      'd_star_max_error': errors['max'],
      'd_star_mean_error': errors['mean'],
      'p_g_mass_on_grid': theory.mass(self.p_g, self.x),
    }


def snapshot(state: TrainState, gan: GAN, config: ToyConfig) -> Snapshot:
  """The state on the config's grids; p_g is the exact push-forward of uniform z through G."""
  x, z = config.x_grid(), config.z_grid()
  g_of_z, d_logits = jax.device_get(
    _curves(state, jnp.asarray(x, jnp.float32), jnp.asarray(z, jnp.float32), gan=gan)
  )
  # D from its logits in float64, so 1 - D keeps its digits where D is near 1.
  return Snapshot(
    step=int(state.step),
    x=x,
    p_data=config.data_distribution.density(x),
    g_of_z=np.asarray(g_of_z, np.float64),
    p_g=theory.pushforward_density(g_of_z, x),
    d=special.expit(np.asarray(d_logits, np.float64)),
  )
