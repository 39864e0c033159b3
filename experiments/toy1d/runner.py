"""The 1-D paper experiment: Figure 1, Theorem 1 and Proposition 1 in numbers, saturation of
the minimax G loss, and a mode-collapse view; each written as JSON and a figure."""

import dataclasses
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from experiments.toy1d import game, plots, theory
from experiments.toy1d.config import DATA, ToyConfig
from gan_jax.base import files
from gan_jax.base.errors import ConfigError
from gan_jax.game import models
from gan_jax.game.state import GAN, TrainState, create_train_state
from gan_jax.runtime import workdir as workdir_lib

# The games of the mode-collapse view: (G loss, update rule, k).
MODE_GAMES = tuple(
  (g_loss, update, k)
  for g_loss in ('minimax', 'non_saturating')
  for update, k in (('simultaneous', 1), ('alternating', 1), ('alternating', 5))
)
EXPERIMENTS = ('figure1', 'theory', 'modes')


def _floats(values) -> list[float]:
  """JSON-friendly floats, 6 significant digits."""
  return [float(f'{v:.6g}') for v in np.asarray(values, np.float64).ravel()]


def figure1(
  config: ToyConfig,
  gan: GAN,
  states: list[TrainState],
  fitted_early: TrainState,
  num_arrows: int = 24,
) -> dict:
  """Figure 1's four panels as curves on the figure's window of x.

  (a) the game at `early_step`; (b) that G with D trained towards D*;
  (c) then `g_fit_steps` G steps against that fixed D; (d) the end of the game.

  Args:
    config: the experiment.
    gan: the game.
    states: the game's checkpoints (`game.run_game`).
    fitted_early: the game at `early_step` with D fitted (`game.fit_discriminator`).
    num_arrows: arrows z -> G(z) drawn under each panel.

  Returns:
    figure1.json's content: the x window, and per panel its curves, arrows and measures.
  """
  data = config.data_distribution
  fit_g = game.trainer(game.freeze(gan, 'discriminator'), data, config.g_fit_steps)
  moved, _ = fit_g(game.copy_state(fitted_early))
  panels = [
    ('(a) early in training', states[game.early_index(config)]),
    ('(b) D trained towards D* (G fixed)', fitted_early),
    (f'(c) after {config.g_fit_steps} G steps (D fixed)', moved),
    ('(d) end of training', states[-1]),
  ]
  lo, hi = data.window()
  x = config.x_grid()
  shown = (x >= lo) & (x <= hi)
  # The arrows' z: evenly spaced quantiles of uniform z, as the paper's figure samples z.
  z = -math.sqrt(3.0) + (np.arange(num_arrows) + 0.5) * 2 * math.sqrt(3.0) / num_arrows
  out = []
  for name, state in panels:
    snap = game.snapshot(state, gan, config)
    out.append(
      {
        'name': name,
        'step': snap.step,
        'p_data': _floats(snap.p_data[shown]),
        'p_g': _floats(snap.p_g[shown]),
        'd': _floats(snap.d[shown]),
        'd_star': _floats(snap.d_star[shown]),
        'z': _floats(z),
        # G is piecewise linear and the z grid is fine: interpolation is G itself.
        'g_of_z': _floats(np.interp(z, config.z_grid(), snap.g_of_z)),
        **{k: float(f'{v:.6g}') for k, v in snap.measures().items()},
      }
    )
  return {
    'data': config.data,
    'x': _floats(x[shown]),
    'z_range': [-math.sqrt(3.0), math.sqrt(3.0)],
    'p_g_method': (
      f'exact push-forward of uniform z through G (G evaluated at {config.num_z} '
      'z points, linear between them), averaged over each x cell of width '
      f'{theory.grid_step(x):.3g}'
    ),
    'panels': out,
  }


def proposition1_known_generator(config: ToyConfig, mean: float = 0.5, std: float = 0.7) -> dict:
  """D trained with G frozen to G(z) = mean + std z, z ~ N(0, 1), against the exact D*.

  Here p_g = N(mean, std^2) in closed form and D* is smooth; with uniform z every p_g has
  hard edges, where D* jumps and no smooth D can follow.
  """
  gan = dataclasses.replace(
    game.make_gan(config),
    noise_prior='normal',
    generator=models.Generator(hidden=(), output_dim=1, output_activation='linear'),
  )
  state = create_train_state(gan, config.seed, None)
  g_params = {'output': {'kernel': jnp.full((1, 1), std), 'bias': jnp.full((1,), mean)}}
  state = state.replace(g_params=g_params, g_opt_state=gan.g_tx.init(g_params))
  data = config.data_distribution
  [fitted] = game.fit_discriminator([state], gan, config)
  x = config.x_grid()
  p_data = data.density(x)
  p_g = theory.gaussian_mixture_density(x, (mean,), (std,), (1.0,))
  d_star, mask = theory.optimal_discriminator(p_data, p_g), theory.support_mask(p_data, p_g)

  def errors(d_params):
    d_logits = gan.discriminate(d_params, jnp.asarray(x, jnp.float32)[:, None])
    return theory.discriminator_errors(
      special.expit(np.asarray(d_logits, np.float64)), d_star, mask
    )

  before, after = errors(state.d_params), errors(fitted.d_params)
  return {
    'generator': f'G(z) = {mean} + {std} z, z ~ N(0, 1): p_g = N({mean}, {std}^2)',
    'fit_steps': config.d_fit_steps,
    'max_error': after['max'],
    'mean_error': after['mean'],
    'initial_max_error': before['max'],
    'initial_mean_error': before['mean'],
  }


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
  state = game.start_fit(
    create_train_state(gan, config.seed, np.array([offset], np.float32)), gan, config
  )
  run = game.trainer(game.discriminator_game(gan, config), data, config.chunk_steps)
  z = gan.sample_noise(jax.random.PRNGKey(config.seed + 1), num_samples)

  @jax.jit
  def measure(state):
    fake_logits = lambda g_params, z: gan.discriminate(state.d_params, gan.generate(g_params, z))
    batch = theory.generator_gradient_norms(state.g_params, fake_logits, z)
    single = jax.vmap(
      lambda z: theory.generator_gradient_norms(state.g_params, fake_logits, z[None])
    )(z[:256])
    measured = single['non_saturating'] / single['minimax']
    error = jnp.max(jnp.abs(measured / theory.saturation_ratio(single['d_fake'][:, 0]) - 1.0))
    return batch, error

  rows = []
  num_chunks = config.saturation_steps // config.chunk_steps
  for i in range(num_chunks + 1):
    batch, per_sample_error = measure(state)
    d_fake = batch['d_fake']
    rows.append(
      {
        'd_steps': i * config.chunk_steps,
        'd_fake_mean': float(jnp.mean(d_fake)),
        'd_fake_max': float(jnp.max(d_fake)),
        'grad_norm_minimax': float(batch['minimax']),
        'grad_norm_non_saturating': float(batch['non_saturating']),
        'ratio': float(batch['non_saturating'] / batch['minimax']),
        'predicted_ratio': float(theory.batch_saturation_ratio(d_fake, batch['logit_grad'])),
        'ratio_at_mean_d': float(theory.saturation_ratio(jnp.mean(d_fake))),
        'per_sample_max_rel_error': float(per_sample_error),
      }
    )
    if i < num_chunks:
      state, _ = run(state)
  return {
    'g_output_bias': offset,
    'num_samples': num_samples,
    'rows': rows,
    'final': rows[-1],
    'note': (
      'ratio = |grad non_saturating| / |grad minimax| of the batch-mean losses; per '
      'sample it is exactly (1 - D)/D (per_sample_max_rel_error: autodiff vs that, 256 '
      'samples); predicted_ratio = sum (1 - D_i)|dl_i| / sum D_i |dl_i| (per-sample '
      'gradients assumed aligned); ratio_at_mean_d = (1 - mean D) / mean D'
    ),
  }


def theory_report(
  config: ToyConfig, gan: GAN, states: list[TrainState], fitted: list[TrainState]
) -> dict:
  """Theorem 1 along training and Proposition 1 at every checkpoint, plus the two closed-form
  checks (a known p_g, the saturation of the minimax loss)."""
  played = [game.snapshot(s, gan, config).measures() for s in states]
  fit = [game.snapshot(s, gan, config).measures() for s in fitted]
  known = proposition1_known_generator(config)
  early = game.early_index(config)
  c_of_g = [m['c_of_g'] for m in played]
  two_jsd = [2 * m['jsd'] for m in played]
  return {
    'data': config.data,
    'log4': theory.LOG4,
    'steps': [int(s.step) for s in states],
    'c_of_g': c_of_g,
    'c_of_g_trained_d': [m['value'] for m in fit],
    'two_jsd': two_jsd,
    'c_of_g_plus_log4_minus_two_jsd': [c + theory.LOG4 - j for c, j in zip(c_of_g, two_jsd)],
    'final': {
      'c_of_g': c_of_g[-1],
      'c_of_g_trained_d': fit[-1]['value'],
      'two_jsd': two_jsd[-1],
      'jsd': played[-1]['jsd'],
    },
    'd_on_support': played[-1]['d_on_support'],
    'd_star_max_error': known['max_error'],
    'd_star_mean_error': known['mean_error'],
    'proposition1': {
      'region': 'grid points where p_data + p_g > 1% of its peak',
      'known_generator': known,
      'game_generator': {
        'step': int(states[early].step),
        'fit_steps': config.d_fit_steps,
        'max_error': fit[early]['d_star_max_error'],
        'mean_error': fit[early]['d_star_mean_error'],
      },
      'by_checkpoint_max_error': [m['d_star_max_error'] for m in fit],
      'by_checkpoint_mean_error': [m['d_star_mean_error'] for m in fit],
    },
    'method': {
      'c_of_g': 'V(D*, G) by quadrature, p_g the exact push-forward density of G',
      'c_of_g_trained_d': (
        f'V(D, G) by quadrature with D trained {config.d_fit_steps} '
        "steps with G fixed, from the game's D (a lower bound)"
      ),
      'two_jsd': '2 JSD(p_data || p_g) by quadrature on the same grid',
      'd_on_support': 'E_{x ~ p_data} D(x) at the end of the game',
    },
    'p_g_mass_on_grid_min': min(m['p_g_mass_on_grid'] for m in played),
    'saturation': saturation(config, gan),
  }


def modes(config: ToyConfig, games=MODE_GAMES) -> dict:
  """The share of G's mass near each mode of the mixture over training, for each of `games`
  ((G loss, update rule, k)) and `mode_seeds` seeds, G starting at `mode_start`.

  Shares are exact, not sampled: G on the uniform z grid.
  """
  data = DATA['mixture']
  runs = []
  for g_loss, update, k in games:
    game_config = config.replace(
      data='mixture', g_loss=g_loss, update=update, d_steps=k, num_steps=config.mode_steps
    )
    gan = game.make_gan(game_config)
    shares = []
    for seed in range(config.mode_seeds):
      start = game.initial_state(gan, game_config, seed, center=config.mode_start)
      states = game.play(start, gan, game_config, config.mode_steps)
      shares.append(
        [
          _floats(
            theory.mode_shares(game.snapshot(s, gan, game_config).g_of_z, data.means, data.stds)
          )
          for s in states
        ]
      )
    final = np.array([s[-1] for s in shares])
    runs.append(
      {
        'g_loss': g_loss,
        'update': update,
        'd_steps': k,
        'shares': shares,
        'final_mean': _floats(final.mean(axis=0)),
        'collapsed_seeds': int(np.sum(final[:, :2].min(axis=1) < 0.1)),
      }
    )
  return {
    'means': list(data.means),
    'stds': list(data.stds),
    'start': f'median of G(z) at {config.mode_start} at step 0',
    'shares_are': (
      '[left mode, right mode, neither]: the share of z whose G(z) lies '
      'within 3 std of that mode (exact: G on the uniform z grid)'
    ),
    'collapsed_seeds': "seeds where a mode holds under 10% of G's mass at the end",
    'steps': config.checkpoints(config.mode_steps),
    'runs': runs,
  }


def check_finite(config: ToyConfig, states: list[TrainState]) -> None:
  """Raises ConfigError at the first checkpoint whose nets hold NaN/inf, naming the flag that
  most likely drove it: an init scale far beyond the recipe's, else that net's learning rate."""
  finite = lambda tree: all(bool(np.isfinite(x).all()) for x in jax.tree.leaves(tree))
  for step, state in zip(config.checkpoints(config.num_steps), states):
    g_ok, d_ok = finite(state.g_params), finite(state.d_params)
    if g_ok and d_ok:
      continue
    net, rate = (
      ('generator', 'g_learning_rate') if not g_ok else ('discriminator', 'd_learning_rate')
    )
    flag = 'init_scale' if config.init_scale > 1 else rate
    raise ConfigError(
      f"the 1-D game's {net} became NaN/inf by step {step}; run again with a smaller "
      f'--{flag} (now {getattr(config, flag)})'
    )


def run_experiments(
  config: ToyConfig, workdir: str, experiments: tuple[str, ...] = EXPERIMENTS, log=print
) -> dict[str, float]:
  """Runs `experiments` and writes their JSON and PNG files under `workdir`.

  figure1 and theory share one game. Returns the wall time of each part, in seconds.
  """
  config.check_memory()  # before the workdir is claimed or anything allocated
  unknown = set(experiments) - set(EXPERIMENTS)
  if unknown:
    raise ConfigError(f'unknown experiment(s) {sorted(unknown)}; choose from {EXPERIMENTS}')
  workdir_lib.claim(workdir, (workdir_lib.TOY1D,))  # never into a directory gan_jax did not write
  seconds = {}
  if 'figure1' in experiments or 'theory' in experiments:
    start = time.time()
    gan, states = game.run_game(config)
    check_finite(config, states)
    checkpoints = range(len(states)) if 'theory' in experiments else [game.early_index(config)]
    fitted = dict(
      zip(checkpoints, game.fit_discriminator([states[i] for i in checkpoints], gan, config))
    )
    seconds['game'] = time.time() - start
    log(
      f'game: {config.num_steps} steps on {config.data} and D fitted at '
      f'{len(fitted)} checkpoint(s) in {seconds["game"]:.1f}s'
    )
    if 'figure1' in experiments:
      start = time.time()
      result = figure1(config, gan, states, fitted[game.early_index(config)])
      files.write_json(os.path.join(workdir, 'figure1.json'), result, indent=None)
      plots.plot_figure1(result, os.path.join(workdir, 'figure1.png'))
      seconds['figure1'] = time.time() - start
      log(
        f'figure1: JSD per panel {[round(p["jsd"], 4) for p in result["panels"]]} '
        f'({seconds["figure1"]:.1f}s)'
      )
    if 'theory' in experiments:
      start = time.time()
      result = theory_report(config, gan, states, [fitted[i] for i in checkpoints])
      files.write_json(os.path.join(workdir, 'theory.json'), result)
      plots.plot_theorem1(result, os.path.join(workdir, 'theorem1.png'))
      seconds['theory'] = time.time() - start
      final = result['final']
      log(
        f'theory: C(G) {final["c_of_g"]:.4f} (trained D {final["c_of_g_trained_d"]:.4f}), '
        f'-log 4 + 2 JSD {final["two_jsd"] - theory.LOG4:.4f}; '
        f'|D - D*| max {result["d_star_max_error"]:.3f} mean {result["d_star_mean_error"]:.3f}; '
        f'saturation ratio {result["saturation"]["final"]["ratio"]:.1f} '
        f'({seconds["theory"]:.1f}s)'
      )
  if 'modes' in experiments:
    start = time.time()
    result = modes(config)
    files.write_json(os.path.join(workdir, 'modes.json'), result)
    plots.plot_modes(result, os.path.join(workdir, 'modes.png'))
    seconds['modes'] = time.time() - start
    log(
      'modes: '
      + '; '.join(
        f'{r["g_loss"]} {r["update"]} k={r["d_steps"]}: {r["collapsed_seeds"]} collapsed'
        for r in result['runs']
      )
      + f' ({seconds["modes"]:.1f}s)'
    )
  return seconds
