"""The 1-D toy of Figure 1, trained with the library's own state, step and losses.

p_data is a Gaussian (or a two-mode mixture) on the line, z is uniform on (-sqrt 3, sqrt 3),
G is a ReLU MLP with a linear output, D a maxout MLP without dropout. Everything the figures
and the theory need is read off a fine grid of x cells and a fine grid of z points, so p_g is
the exact push-forward of p_z through G (`theory.pushforward_density`), not a sample estimate.
"""

import dataclasses
import functools
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import special

from gan_jax.game import models
from gan_jax.game import steps
from gan_jax import theory
from gan_jax import toy1d_plots
from gan_jax.runtime import workdir as workdir_lib
from gan_jax.runtime import writers
from gan_jax.runtime.errors import ConfigError
from gan_jax.game.state import GAN, TrainState, create_train_state

Array = jax.Array
# Data batches get their own stream, apart from the step's noise keys fold_in(rng, step).
_DATA_STREAM = 0xDA7A


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
    return (jnp.asarray(self.means)[mode]
            + jnp.asarray(self.stds)[mode] * jax.random.normal(noise_key, shape))

  def window(self, num_stds: float = 4.0) -> tuple[float, float]:
    """The part of the line the figures show."""
    return (min(m - num_stds * s for m, s in zip(self.means, self.stds)),
            max(m + num_stds * s for m, s in zip(self.means, self.stds)))


DATA = {
    'gaussian': Data1D(means=(1.0,), stds=(0.5,), weights=(1.0,)),
    'mixture': Data1D(means=(-1.5, 1.5), stds=(0.35, 0.35), weights=(0.5, 0.5)),
}
# The games of the mode-collapse view: (G loss, update rule, k).
MODE_GAMES = tuple((g_loss, update, k) for g_loss in ('minimax', 'non_saturating')
                   for update, k in (('simultaneous', 1), ('alternating', 1), ('alternating', 5)))


@dataclasses.dataclass(frozen=True)
class ToyConfig:
  """One 1-D experiment. Defaults: Algorithm 1 with k = 1 and the non-saturating G loss."""

  data: str = 'gaussian'
  g_loss: str = 'non_saturating'
  update: str = 'alternating'
  d_steps: int = 1
  num_steps: int = 6000
  batch_size: int = 128
  # Adam (beta1 = 0.5), cosine decay to final_lr_fraction so the game settles at the end. D
  # learns faster than G: with equal rates the game kept oscillating (JSD 0.02-0.05).
  g_learning_rate: float = 5e-4
  d_learning_rate: float = 4e-3
  final_lr_fraction: float = 0.05
  g_hidden: tuple[int, ...] = (32, 32)
  d_units: tuple[int, ...] = (32, 32)
  d_pieces: int = 4
  init_scale: float = 0.5  # weights ~ U(-scale, scale), both nets
  # G's initial output bias: G(z) starts mostly left of the data, a poor G as early in training.
  g_output_bias: float = -1.0
  seed: int = 0
  # Steps fused per compiled call; checkpoints at 0, chunk_steps * 2^i and num_steps.
  chunk_steps: int = 50
  # Figure 1: (a) is the game at early_step; (b) trains D d_fit_steps with G fixed (also how
  # C(G) is estimated at each checkpoint); (c) then trains G g_fit_steps with D fixed.
  early_step: int = 50
  d_fit_steps: int = 1000
  d_fit_batch_size: int = 512
  d_fit_learning_rate: float = 3e-3
  g_fit_steps: int = 20
  # D steps (G fixed) of the saturation check, measured every chunk_steps.
  saturation_steps: int = 1000
  # The mode-collapse view: each game of MODE_GAMES on the mixture, mode_seeds seeds each, G
  # starting with the median of G(z) at mode_start: on the left mode, as after a collapse, so
  # the view asks whether a game finds the other mode. (Started halfway, at 0, all 24 runs of
  # a 4-seed trial found both.)
  mode_steps: int = 1200
  mode_seeds: int = 3
  mode_start: float = -1.5
  # The grids everything is measured on: x cells over x_range, z points over p_z's support.
  x_range: tuple[float, float] = (-5.0, 5.0)
  num_x: int = 2000
  num_z: int = 2001

  def replace(self, **changes) -> 'ToyConfig':
    return dataclasses.replace(self, **changes)

  def validate(self) -> 'ToyConfig':
    """Raises ConfigError naming the flag and the fix."""
    for f in dataclasses.fields(self):
      value = getattr(self, f.name)
      if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f'--{f.name}={value} is not a finite number; pass a real value')
    if self.data not in DATA:
      raise ConfigError(f'--data={self.data} is not one of {", ".join(DATA)}')
    if self.g_loss not in ('minimax', 'non_saturating'):
      raise ConfigError(f'--g_loss={self.g_loss} is not one of minimax, non_saturating')
    if self.update not in ('simultaneous', 'alternating'):
      raise ConfigError(f'--update={self.update} is not one of simultaneous, alternating')
    for name in ('num_steps', 'batch_size', 'd_steps', 'g_learning_rate', 'd_learning_rate',
                 'chunk_steps', 'd_fit_steps', 'd_fit_batch_size', 'g_fit_steps', 'mode_steps',
                 'mode_seeds', 'saturation_steps'):
      if not getattr(self, name) > 0:
        raise ConfigError(f'--{name} must be positive, got {getattr(self, name)}')
    for name in ('num_steps', 'd_fit_steps', 'mode_steps', 'saturation_steps'):
      if getattr(self, name) % self.chunk_steps:
        raise ConfigError(f'--{name}={getattr(self, name)} must be a multiple of '
                          f'{self.chunk_steps} (steps per compiled call)')
    if self.early_step not in self.checkpoints(self.num_steps):
      raise ConfigError(f'--early_step={self.early_step} must be a checkpoint: one of '
                        f'{self.checkpoints(self.num_steps)}')
    if self.update == 'simultaneous' and self.d_steps != 1:
      raise ConfigError(f'--d_steps={self.d_steps} needs --update=alternating')
    return self

  @property
  def data_distribution(self) -> Data1D:
    return DATA[self.data]

  def checkpoints(self, num_steps: int) -> list[int]:
    """0, chunk_steps * 2^i below num_steps, and num_steps: dense early, where G moves most."""
    steps = [0]
    while (step := self.chunk_steps * 2**(len(steps) - 1)) < num_steps:
      steps.append(step)
    return steps + [num_steps]

  def x_grid(self) -> np.ndarray:
    lo, hi = self.x_range
    dx = (hi - lo) / self.num_x
    return lo + dx * (np.arange(self.num_x) + 0.5)

  def z_grid(self) -> np.ndarray:
    return np.linspace(-math.sqrt(3.0), math.sqrt(3.0), self.num_z)


# ----------------------------------------------------------------------------- the game


def make_gan(config: ToyConfig) -> GAN:
  """The library's GAN bundle with 1-D nets: G a linear-output MLP, D maxout without dropout."""

  def adam(learning_rate, updates_per_step):
    # D's optimiser counts D updates: k per iteration.
    lr = optax.cosine_decay_schedule(learning_rate, config.num_steps * updates_per_step,
                                     alpha=config.final_lr_fraction)
    return optax.adam(lr, b1=0.5)

  return GAN(
      generator=models.Generator(hidden=config.g_hidden, output_dim=1,
                                 init_scale=config.init_scale, output_activation='linear'),
      discriminator=models.Discriminator(units=config.d_units, pieces=config.d_pieces,
                                         init_scale=config.init_scale,
                                         keep_probs=(1.0,) * (len(config.d_units) + 1)),
      g_tx=adam(config.g_learning_rate, 1), d_tx=adam(config.d_learning_rate, config.d_steps),
      noise_dim=1, noise_prior='uniform',
      g_loss=config.g_loss, update=config.update, d_steps=config.d_steps,
      batch_size=config.batch_size, steps_per_epoch=1)


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


def train(state: TrainState, *, gan: GAN, data: Data1D,
          num_steps: int) -> tuple[TrainState, dict[str, Array]]:
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
  return jax.jit(functools.partial(train, gan=gan, data=data, num_steps=num_steps),
                 donate_argnums=0)


def _copy(state: TrainState) -> TrainState:
  """A copy to donate, so the caller's state stays valid."""
  return jax.tree.map(jnp.copy, state)


@functools.cache
def discriminator_game(gan: GAN, config: ToyConfig) -> GAN:
  """The game in which only D learns (G fixed): constant-rate Adam on larger batches.

  One object per (game, config), so its compiled trainer is shared by every fit.
  """
  return dataclasses.replace(
      freeze(gan, 'generator'), d_tx=optax.adam(config.d_fit_learning_rate),
      update='alternating', d_steps=1, batch_size=config.d_fit_batch_size)


def start_fit(state: TrainState, gan: GAN, config: ToyConfig) -> TrainState:
  """`state` ready for `discriminator_game`: a copy, with a fresh D optimiser state."""
  fit_gan = discriminator_game(gan, config)
  return _copy(state).replace(d_opt_state=fit_gan.d_tx.init(state.d_params))


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


def initial_state(gan: GAN, config: ToyConfig, seed: int,
                  center: float | None = None) -> TrainState:
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
    state, _ = run(_copy(state))
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
  return (gan.generate(state.g_params, z[:, None])[:, 0],
          gan.discriminate(state.d_params, x[:, None]))


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
        'd_star_max_error': errors['max'], 'd_star_mean_error': errors['mean'],
        'p_g_mass_on_grid': theory.mass(self.p_g, self.x)}


def snapshot(state: TrainState, gan: GAN, config: ToyConfig) -> Snapshot:
  """The state on the config's grids; p_g is the exact push-forward of uniform z through G."""
  x, z = config.x_grid(), config.z_grid()
  g_of_z, d_logits = jax.device_get(_curves(state, jnp.asarray(x, jnp.float32),
                                            jnp.asarray(z, jnp.float32), gan=gan))
  # D from its logits in float64, so 1 - D keeps its digits where D is near 1.
  return Snapshot(step=int(state.step), x=x, p_data=config.data_distribution.density(x),
                  g_of_z=np.asarray(g_of_z, np.float64),
                  p_g=theory.pushforward_density(g_of_z, x),
                  d=special.expit(np.asarray(d_logits, np.float64)))


# ----------------------------------------------------------------------------- experiments


def _floats(values) -> list[float]:
  """JSON-friendly floats, 6 significant digits."""
  return [float(f'{v:.6g}') for v in np.asarray(values, np.float64).ravel()]


def figure1(config: ToyConfig, gan: GAN, states: list[TrainState], fitted_early: TrainState,
            num_arrows: int = 24) -> dict:
  """Figure 1's four panels as curves on the figure's window of x.

  (a) the game at `early_step`; (b) that G with D trained towards D*;
  (c) then `g_fit_steps` G steps against that fixed D; (d) the end of the game.

  Args:
    config: the experiment.
    gan: the game.
    states: the game's checkpoints (`run_game`).
    fitted_early: the game at `early_step` with D fitted (`fit_discriminator`).
    num_arrows: arrows z -> G(z) drawn under each panel.

  Returns:
    figure1.json's content: the x window, and per panel its curves, arrows and measures.
  """
  data = config.data_distribution
  moved, _ = trainer(freeze(gan, 'discriminator'), data, config.g_fit_steps)(_copy(fitted_early))
  panels = [('(a) early in training', states[early_index(config)]),
            ('(b) D trained towards D* (G fixed)', fitted_early),
            (f'(c) after {config.g_fit_steps} G steps (D fixed)', moved),
            ('(d) end of training', states[-1])]
  lo, hi = data.window()
  x = config.x_grid()
  shown = (x >= lo) & (x <= hi)
  # The arrows' z: evenly spaced quantiles of uniform z, as the paper's figure samples z.
  z = -math.sqrt(3.0) + (np.arange(num_arrows) + 0.5) * 2 * math.sqrt(3.0) / num_arrows
  out = []
  for name, state in panels:
    snap = snapshot(state, gan, config)
    out.append({
        'name': name, 'step': snap.step, 'p_data': _floats(snap.p_data[shown]),
        'p_g': _floats(snap.p_g[shown]), 'd': _floats(snap.d[shown]),
        'd_star': _floats(snap.d_star[shown]), 'z': _floats(z),
        # G is piecewise linear and the z grid is fine: interpolation is G itself.
        'g_of_z': _floats(np.interp(z, config.z_grid(), snap.g_of_z)),
        **{k: float(f'{v:.6g}') for k, v in snap.measures().items()}})
  return {
      'data': config.data, 'x': _floats(x[shown]), 'z_range': [-math.sqrt(3.0), math.sqrt(3.0)],
      'p_g_method': (f'exact push-forward of uniform z through G (G evaluated at {config.num_z} '
                     'z points, linear between them), averaged over each x cell of width '
                     f'{theory.grid_step(x):.3g}'),
      'panels': out}


def proposition1_known_generator(config: ToyConfig, mean: float = 0.5,
                                 std: float = 0.7) -> dict:
  """D trained with G frozen to G(z) = mean + std z, z ~ N(0, 1), against the exact D*.

  Here p_g = N(mean, std^2) in closed form and D* is smooth; with uniform z every p_g has
  hard edges, where D* jumps and no smooth D can follow.
  """
  gan = dataclasses.replace(
      make_gan(config), noise_prior='normal',
      generator=models.Generator(hidden=(), output_dim=1, output_activation='linear'))
  state = create_train_state(gan, config.seed, None)
  g_params = {'output': {'kernel': jnp.full((1, 1), std), 'bias': jnp.full((1,), mean)}}
  state = state.replace(g_params=g_params, g_opt_state=gan.g_tx.init(g_params))
  data = config.data_distribution
  [fitted] = fit_discriminator([state], gan, config)
  x = config.x_grid()
  p_data = data.density(x)
  p_g = theory.gaussian_mixture_density(x, (mean,), (std,), (1.0,))
  d_star, mask = theory.optimal_discriminator(p_data, p_g), theory.support_mask(p_data, p_g)

  def errors(d_params):
    d_logits = gan.discriminate(d_params, jnp.asarray(x, jnp.float32)[:, None])
    return theory.discriminator_errors(special.expit(np.asarray(d_logits, np.float64)), d_star,
                                       mask)

  before, after = errors(state.d_params), errors(fitted.d_params)
  return {'generator': f'G(z) = {mean} + {std} z, z ~ N(0, 1): p_g = N({mean}, {std}^2)',
          'fit_steps': config.d_fit_steps, 'max_error': after['max'],
          'mean_error': after['mean'], 'initial_max_error': before['max'],
          'initial_mean_error': before['mean']}


def saturation(config: ToyConfig, gan: GAN, num_samples: int = 4096) -> dict:
  """The gradient reaching G under each G loss while D learns to reject a poor G.

  G starts well left of the data (its output bias shifted), as early in training; D is trained
  with G fixed for `saturation_steps`, and after each `chunk_steps` D steps the gradient norms
  of both G losses are taken on the same noise batch. Per sample the ratio is exactly
  (1 - D)/D (theory.saturation_ratio), checked here against autodiff of the library's losses on
  256 samples.
  """
  data = config.data_distribution
  offset = min(m - 4 * s for m, s in zip(data.means, data.stds)) - 2.0
  state = start_fit(create_train_state(gan, config.seed, np.array([offset], np.float32)), gan,
                    config)
  run = trainer(discriminator_game(gan, config), data, config.chunk_steps)
  z = gan.sample_noise(jax.random.PRNGKey(config.seed + 1), num_samples)

  @jax.jit
  def measure(state):
    fake_logits = lambda g_params, z: gan.discriminate(state.d_params, gan.generate(g_params, z))
    batch = theory.generator_gradient_norms(state.g_params, fake_logits, z)
    single = jax.vmap(
        lambda z: theory.generator_gradient_norms(state.g_params, fake_logits, z[None]))(z[:256])
    measured = single['non_saturating'] / single['minimax']
    error = jnp.max(jnp.abs(measured / theory.saturation_ratio(single['d_fake'][:, 0]) - 1.0))
    return batch, error

  rows = []
  num_chunks = config.saturation_steps // config.chunk_steps
  for i in range(num_chunks + 1):
    batch, per_sample_error = measure(state)
    d_fake = batch['d_fake']
    rows.append({
        'd_steps': i * config.chunk_steps, 'd_fake_mean': float(jnp.mean(d_fake)),
        'd_fake_max': float(jnp.max(d_fake)),
        'grad_norm_minimax': float(batch['minimax']),
        'grad_norm_non_saturating': float(batch['non_saturating']),
        'ratio': float(batch['non_saturating'] / batch['minimax']),
        'predicted_ratio': float(theory.batch_saturation_ratio(d_fake, batch['logit_grad'])),
        'ratio_at_mean_d': float(theory.saturation_ratio(jnp.mean(d_fake))),
        'per_sample_max_rel_error': float(per_sample_error)})
    if i < num_chunks:
      state, _ = run(state)
  return {
      'g_output_bias': offset, 'num_samples': num_samples, 'rows': rows, 'final': rows[-1],
      'note': ('ratio = |grad non_saturating| / |grad minimax| of the batch-mean losses; per '
               'sample it is exactly (1 - D)/D (per_sample_max_rel_error: autodiff vs that, 256 '
               'samples); predicted_ratio = sum (1 - D_i)|dl_i| / sum D_i |dl_i| (per-sample '
               'gradients assumed aligned); ratio_at_mean_d = (1 - mean D) / mean D')}


def theory_report(config: ToyConfig, gan: GAN, states: list[TrainState],
                  fitted: list[TrainState]) -> dict:
  """Theorem 1 along training and Proposition 1 at every checkpoint, plus the two closed-form
  checks (a known p_g, the saturation of the minimax loss)."""
  game = [snapshot(s, gan, config).measures() for s in states]
  fit = [snapshot(s, gan, config).measures() for s in fitted]
  known = proposition1_known_generator(config)
  early = early_index(config)
  c_of_g = [m['c_of_g'] for m in game]
  two_jsd = [2 * m['jsd'] for m in game]
  return {
      'data': config.data, 'log4': theory.LOG4,
      'steps': [int(s.step) for s in states],
      'c_of_g': c_of_g,
      'c_of_g_trained_d': [m['value'] for m in fit],
      'two_jsd': two_jsd,
      'c_of_g_plus_log4_minus_two_jsd': [c + theory.LOG4 - j for c, j in zip(c_of_g, two_jsd)],
      'final': {'c_of_g': c_of_g[-1], 'c_of_g_trained_d': fit[-1]['value'],
                'two_jsd': two_jsd[-1], 'jsd': game[-1]['jsd']},
      'd_on_support': game[-1]['d_on_support'],
      'd_star_max_error': known['max_error'], 'd_star_mean_error': known['mean_error'],
      'proposition1': {
          'region': 'grid points where p_data + p_g > 1% of its peak',
          'known_generator': known,
          'game_generator': {
              'step': int(states[early].step), 'fit_steps': config.d_fit_steps,
              'max_error': fit[early]['d_star_max_error'],
              'mean_error': fit[early]['d_star_mean_error']},
          'by_checkpoint_max_error': [m['d_star_max_error'] for m in fit],
          'by_checkpoint_mean_error': [m['d_star_mean_error'] for m in fit]},
      'method': {
          'c_of_g': 'V(D*, G) by quadrature, p_g the exact push-forward density of G',
          'c_of_g_trained_d': (f'V(D, G) by quadrature with D trained {config.d_fit_steps} '
                               'steps with G fixed, from the game\'s D (a lower bound)'),
          'two_jsd': '2 JSD(p_data || p_g) by quadrature on the same grid',
          'd_on_support': 'E_{x ~ p_data} D(x) at the end of the game'},
      'p_g_mass_on_grid_min': min(m['p_g_mass_on_grid'] for m in game),
      'saturation': saturation(config, gan)}


def modes(config: ToyConfig, games=MODE_GAMES) -> dict:
  """The share of G's mass near each mode of the mixture over training, for each of `games`
  ((G loss, update rule, k)) and `mode_seeds` seeds, G starting at `mode_start`.

  Shares are exact, not sampled: G on the uniform z grid.
  """
  data = DATA['mixture']
  runs = []
  for g_loss, update, k in games:
    game_config = config.replace(data='mixture', g_loss=g_loss, update=update, d_steps=k,
                                 num_steps=config.mode_steps)
    gan = make_gan(game_config)
    shares = []
    for seed in range(config.mode_seeds):
      start = initial_state(gan, game_config, seed, center=config.mode_start)
      states = play(start, gan, game_config, config.mode_steps)
      shares.append([_floats(theory.mode_shares(snapshot(s, gan, game_config).g_of_z,
                                                data.means, data.stds)) for s in states])
    final = np.array([s[-1] for s in shares])
    runs.append({'g_loss': g_loss, 'update': update, 'd_steps': k, 'shares': shares,
                 'final_mean': _floats(final.mean(axis=0)),
                 'collapsed_seeds': int(np.sum(final[:, :2].min(axis=1) < 0.1))})
  return {'means': list(data.means), 'stds': list(data.stds),
          'start': f'median of G(z) at {config.mode_start} at step 0',
          'shares_are': ('[left mode, right mode, neither]: the share of z whose G(z) lies '
                         'within 3 std of that mode (exact: G on the uniform z grid)'),
          'collapsed_seeds': 'seeds where a mode holds under 10% of G\'s mass at the end',
          'steps': config.checkpoints(config.mode_steps), 'runs': runs}


EXPERIMENTS = ('figure1', 'theory', 'modes')


def run(config: ToyConfig, workdir: str, experiments: tuple[str, ...] = EXPERIMENTS,
        log=print) -> dict[str, float]:
  """Runs `experiments` and writes their JSON and PNG files under `workdir`.

  figure1 and theory share one game. Returns the wall time of each part, in seconds.
  """
  config.validate()
  unknown = set(experiments) - set(EXPERIMENTS)
  if unknown:
    raise ConfigError(f'unknown experiment(s) {sorted(unknown)}; choose from {EXPERIMENTS}')
  workdir_lib.claim(workdir, (workdir_lib.TOY1D,))  # never into a directory gan_jax did not write
  seconds = {}
  if 'figure1' in experiments or 'theory' in experiments:
    start = time.time()
    gan, states = run_game(config)
    checkpoints = range(len(states)) if 'theory' in experiments else [early_index(config)]
    fitted = dict(zip(checkpoints, fit_discriminator([states[i] for i in checkpoints], gan,
                                                     config)))
    seconds['game'] = time.time() - start
    log(f'game: {config.num_steps} steps on {config.data} and D fitted at '
        f'{len(fitted)} checkpoint(s) in {seconds["game"]:.1f}s')
    if 'figure1' in experiments:
      start = time.time()
      result = figure1(config, gan, states, fitted[early_index(config)])
      writers.write_json(os.path.join(workdir, 'figure1.json'), result, indent=None)
      toy1d_plots.plot_figure1(result, os.path.join(workdir, 'figure1.png'))
      seconds['figure1'] = time.time() - start
      log(f'figure1: JSD per panel {[round(p["jsd"], 4) for p in result["panels"]]} '
          f'({seconds["figure1"]:.1f}s)')
    if 'theory' in experiments:
      start = time.time()
      result = theory_report(config, gan, states, [fitted[i] for i in checkpoints])
      writers.write_json(os.path.join(workdir, 'theory.json'), result)
      toy1d_plots.plot_theorem1(result, os.path.join(workdir, 'theorem1.png'))
      seconds['theory'] = time.time() - start
      final = result['final']
      log(f"theory: C(G) {final['c_of_g']:.4f} (trained D {final['c_of_g_trained_d']:.4f}), "
          f"-log 4 + 2 JSD {final['two_jsd'] - theory.LOG4:.4f}; "
          f"|D - D*| max {result['d_star_max_error']:.3f} mean {result['d_star_mean_error']:.3f}; "
          f"saturation ratio {result['saturation']['final']['ratio']:.1f} "
          f"({seconds['theory']:.1f}s)")
  if 'modes' in experiments:
    start = time.time()
    result = modes(config)
    writers.write_json(os.path.join(workdir, 'modes.json'), result)
    toy1d_plots.plot_modes(result, os.path.join(workdir, 'modes.png'))
    seconds['modes'] = time.time() - start
    log('modes: ' + '; '.join(
        f"{r['g_loss']} {r['update']} k={r['d_steps']}: {r['collapsed_seeds']} collapsed"
        for r in result['runs']) + f' ({seconds["modes"]:.1f}s)')
  return seconds
