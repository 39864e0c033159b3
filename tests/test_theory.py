"""The paper's theory in code: closed forms, the push-forward density, saturation.

The 1-D toy that shows it happen is tested in test_toy1d.py."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from experiments.toy1d import game, theory
from experiments.toy1d.config import ToyConfig
from gan_jax.game.state import create_train_state

LOG2 = math.log(2.0)


def _grid(lo=-10.0, hi=10.0, num=4000):
  dx = (hi - lo) / num
  return lo + dx * (np.arange(num) + 0.5)


# ------------------------------------------------------------------ closed forms (Theorem 1)


def test_jsd_of_identical_distributions_is_zero_and_c_of_g_is_minus_log4():
  x = _grid()
  p = stats.norm.pdf(x, 0.3, 1.2)
  assert theory.jsd(p, p, x) == pytest.approx(0.0, abs=1e-12)
  assert theory.c_of_g(p, p, x) == pytest.approx(-theory.LOG4, abs=1e-9)
  np.testing.assert_allclose(theory.optimal_discriminator(p, p), 0.5)


def test_disjoint_uniforms_have_jsd_log2_and_c_of_g_zero():
  x = _grid(0.0, 4.0, 400)  # cell edges at multiples of 0.01
  p = np.where((x > 0) & (x < 1), 1.0, 0.0)
  q = np.where((x > 2) & (x < 3), 1.0, 0.0)
  assert theory.jsd(p, q, x) == pytest.approx(LOG2, abs=1e-12)
  assert theory.c_of_g(p, q, x) == pytest.approx(0.0, abs=1e-12)
  d_star = theory.optimal_discriminator(p, q)
  assert np.all(d_star[p > 0] == 1.0) and np.all(d_star[q > 0] == 0.0)


def test_value_at_d_star_is_minus_log4_plus_two_jsd_for_two_gaussians():
  p, q = stats.norm(0.0, 1.0), stats.norm(1.0, 1.5)
  x = _grid(-15, 15, 6000)
  # The JSD independently, by adaptive quadrature of the closed-form densities.
  m = lambda t: 0.5 * (p.pdf(t) + q.pdf(t))
  kl = lambda a: integrate.quad(lambda t: a.pdf(t) * math.log(a.pdf(t) / m(t)), -15, 15)[0]
  jsd = 0.5 * kl(p) + 0.5 * kl(q)
  assert 0.05 < jsd < LOG2
  value = theory.value(p.pdf(x), q.pdf(x), theory.optimal_discriminator(p.pdf(x), q.pdf(x)), x)
  assert value == pytest.approx(-theory.LOG4 + 2 * jsd, abs=1e-7)
  assert theory.jsd(p.pdf(x), q.pdf(x), x) == pytest.approx(jsd, abs=1e-7)


def test_d_star_maximises_the_value():
  # Pointwise: a log y + b log(1 - y) peaks at y = a / (a + b).
  rng = np.random.default_rng(0)
  a, b = rng.uniform(0.01, 2.0, (2, 50))
  y = np.linspace(1e-4, 1 - 1e-4, 20001)[:, None]
  best = y[np.argmax(a * np.log(y) + b * np.log(1 - y), axis=0), 0]
  np.testing.assert_allclose(best, theory.optimal_discriminator(a, b), atol=1e-4)
  # Over the line: any other D gives a lower V.
  x = _grid()
  p, q = stats.norm.pdf(x, 0, 1), stats.norm.pdf(x, 2, 0.5)
  d_star = theory.optimal_discriminator(p, q)
  best_value = theory.value(p, q, d_star, x)
  for scale in (0.9, 0.99):
    assert theory.value(p, q, scale * d_star, x) < best_value
  assert theory.value(p, q, np.full_like(x, 0.5), x) < best_value


# ------------------------------------------------------------------ the push-forward density


def _uniform_z(num=2001):
  return np.linspace(-math.sqrt(3.0), math.sqrt(3.0), num)


@pytest.mark.parametrize('slope', [0.5, -2.0])
def test_pushforward_of_an_affine_map_is_uniform(slope):
  z, x = _uniform_z(), _grid(-5, 5, 1000)
  p_g = theory.pushforward_density(1.0 + slope * z, x)
  width = 2 * math.sqrt(3.0) * abs(slope)
  inside = np.abs(x - 1.0) < width / 2 - 0.02  # away from the two cells cut by the edges
  np.testing.assert_allclose(p_g[inside], 1.0 / width, rtol=1e-9)
  assert np.all(p_g[np.abs(x - 1.0) > width / 2 + 0.02] == 0.0)
  assert theory.mass(p_g, x) == pytest.approx(1.0, abs=1e-12)


def test_pushforward_adds_the_branches_of_a_fold_and_keeps_point_masses():
  z, x = _uniform_z(), _grid(-5, 5, 1000)
  # |z| folds the uniform on (-sqrt 3, sqrt 3) onto a uniform on (0, sqrt 3) of twice the height.
  p_g = theory.pushforward_density(np.abs(z), x)
  np.testing.assert_allclose(
    p_g[(x > 0.02) & (x < math.sqrt(3.0) - 0.02)], 1 / math.sqrt(3.0), rtol=1e-9
  )
  # A constant G puts all its mass in one cell.
  p_g = theory.pushforward_density(np.full_like(z, 0.123), x)
  assert theory.mass(p_g, x) == pytest.approx(1.0) and np.count_nonzero(p_g) == 1


def test_pushforward_of_the_inverse_cdf_is_the_gaussian():
  z, x = _uniform_z(20001), _grid(-5, 5, 1000)
  u = np.clip((z + math.sqrt(3.0)) / (2 * math.sqrt(3.0)), 1e-9, 1 - 1e-9)
  p_g = theory.pushforward_density(stats.norm.ppf(u, 1.0, 0.5), x)
  np.testing.assert_allclose(p_g, stats.norm.pdf(x, 1.0, 0.5), atol=2e-3)


def test_mode_shares():
  samples = np.array([-1.5, -1.4, 1.5, 1.6, 1.7, 0.0, 10.0, -1.0])
  shares = theory.mode_shares(samples, (-1.5, 1.5), (0.2, 0.2))
  np.testing.assert_allclose(shares, [3 / 8, 3 / 8, 2 / 8])


# ------------------------------------------------------------------ saturation


def _tiny_gan():
  config = ToyConfig(g_hidden=(8,), d_units=(8,), d_pieces=2, batch_size=16)
  return config, game.make_gan(config)


def test_non_saturating_gradient_is_larger_by_one_minus_d_over_d():
  _, gan = _tiny_gan()
  state = create_train_state(gan, 0, None)
  z = gan.sample_noise(jax.random.PRNGKey(1), 64)

  def rejecting(d_params, point, scale):
    """D with its output kernel scaled and its bias set so that D(point) = 1e-3."""
    d_params = jax.tree.map(lambda p: p, d_params)
    d_params['output']['kernel'] = scale * d_params['output']['kernel']
    logit = gan.discriminate(d_params, point)[0]
    d_params['output']['bias'] = d_params['output']['bias'] + jnp.log(1e-3 / (1 - 1e-3)) - logit
    return d_params

  @jax.jit
  def measure(g_params, d_params):
    fake_logits = lambda g, z: gan.discriminate(d_params, gan.generate(g, z))
    batch = theory.generator_gradient_norms(g_params, fake_logits, z)
    single = jax.vmap(lambda z: theory.generator_gradient_norms(g_params, fake_logits, z[None]))
    return batch, single(z)

  # G's output kernel zeroed: every G(z) is the same point, so every sample has the same D and
  # the batch ratio is the per-sample closed form, here with D(G(z)) = 1e-3.
  g_params = jax.tree.map(lambda p: p, state.g_params)
  g_params['output']['kernel'] = jnp.zeros_like(g_params['output']['kernel'])
  d_params = rejecting(state.d_params, gan.generate(g_params, z[:1]), 1.0)
  batch, _ = measure(g_params, d_params)
  np.testing.assert_allclose(batch['d_fake'], 1e-3, rtol=1e-3)
  assert batch['non_saturating'] / batch['minimax'] == pytest.approx(999.0, rel=1e-3)
  assert theory.batch_saturation_ratio(batch['d_fake'], batch['logit_grad']) == pytest.approx(
    999.0, rel=1e-3
  )

  # G's own spread samples against a sharper D: the closed form holds per sample.
  d_params = rejecting(state.d_params, gan.generate(state.g_params, z[:1]), 30.0)
  _, single = measure(state.g_params, d_params)
  d = single['d_fake'][:, 0]
  assert float(d.max() / d.min()) > 5  # the samples do differ
  np.testing.assert_allclose(
    single['non_saturating'] / single['minimax'], theory.saturation_ratio(d), rtol=1e-4
  )
