"""The paper's theory in numbers: D* (Proposition 1), C(G) and the JSD (Theorem 1), saturation.

Densities live on a uniform grid of cell centres `x` with step `dx`, in float64 numpy; integrals
are sums times `dx` (the midpoint rule). A density that has mass off the grid loses it, so
callers pick a grid that holds both p_data and p_g (`mass` checks it). The saturation
functions at the end are JAX: they differentiate through the library's losses.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import special

from gan_jax.game import losses

Array = jax.Array
LOG4 = math.log(4.0)


def grid_step(x: np.ndarray) -> float:
  """The step of a uniform grid of cell centres."""
  return float(x[1] - x[0])


def mass(p: np.ndarray, x: np.ndarray) -> float:
  """The integral of a density over the grid (1 when the grid holds all of it)."""
  return float(np.sum(p) * grid_step(x))


def gaussian_mixture_density(x: np.ndarray, means, stds, weights) -> np.ndarray:
  """sum_j w_j N(x; mu_j, sigma_j^2), float64."""
  x = np.asarray(x, np.float64)[..., None]
  means, stds, weights = (np.asarray(v, np.float64) for v in (means, stds, weights))
  pdf = np.exp(-0.5 * ((x - means) / stds) ** 2) / (stds * math.sqrt(2 * math.pi))
  return pdf @ weights


def pushforward_density(g_of_z: np.ndarray, x: np.ndarray) -> np.ndarray:
  """p_g on the cells of `x`, for x = G(z) with z uniform on an interval.

  The z interval is cut into K - 1 cells of equal probability by the K points at which G was
  evaluated; G is taken as linear on each cell, so the cell's mass 1/(K - 1) is spread evenly
  over [G(z_i), G(z_i+1)]. For a piecewise-linear G (a ReLU MLP) this is exact except on the
  few cells that hold a kink. A G that folds back (not monotone) adds its branches, as the
  change of variables sums over every z with G(z) = x.

  Args:
    g_of_z: G at K >= 2 evenly spaced points spanning p_z's whole support, in z order, [K].
    x: uniform grid of cell centres, [J].

  Returns:
    The mass of p_g in each x cell divided by the cell width (the cell average of p_g), [J].
  """
  g = np.asarray(g_of_z, np.float64)
  dx = grid_step(x)
  edges = np.concatenate([x - dx / 2, [x[-1] + dx / 2]])
  lo, hi = np.minimum(g[:-1], g[1:]), np.maximum(g[:-1], g[1:])
  width = (hi - lo)[:, None]
  # The CDF of each z cell's image at each x edge; a cell G maps to a point is a step.
  with np.errstate(divide='ignore', invalid='ignore'):
    ramp = np.clip((edges[None, :] - lo[:, None]) / width, 0.0, 1.0)
  cdf = np.where(width > 0, ramp, edges[None, :] >= lo[:, None]).mean(axis=0)
  return np.diff(cdf) / dx


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
  """Proposition 1: D*(x) = p_data(x) / (p_data(x) + p_g(x)) for a fixed G.

  Where both densities vanish V does not depend on D; 1/2 is returned there.
  """
  p_data, p_g = np.asarray(p_data, np.float64), np.asarray(p_g, np.float64)
  total = p_data + p_g
  return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)


def value(p_data: np.ndarray, p_g: np.ndarray, d: np.ndarray, x: np.ndarray) -> float:
  """V(D, G) = int p_data log D + p_g log(1 - D) dx by quadrature (0 log 0 = 0).

  Args:
    p_data, p_g: the two densities on the grid `x`.
    d: D(x) on the same grid, probabilities in [0, 1]; a D of exactly 0 (1) where p_data (p_g)
      has mass costs log of the smallest float64, not -inf.
    x: uniform grid of cell centres.
  """
  d = np.clip(np.asarray(d, np.float64), 0.0, 1.0)
  tiny = np.finfo(np.float64).tiny
  return float(
    np.sum(
      special.xlogy(p_data, np.maximum(d, tiny)) + special.xlogy(p_g, np.maximum(1.0 - d, tiny))
    )
    * grid_step(x)
  )


def _xlog_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """a log(a / b), 0 where a = 0; b > 0 wherever a > 0."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return special.xlogy(a, np.divide(a, b, out=np.ones_like(a), where=a > 0))


def c_of_g(p_data: np.ndarray, p_g: np.ndarray, x: np.ndarray) -> float:
  """C(G) = max_D V(D, G) = V(D*, G), exactly (up to quadrature).

  Written as int p_data log(p_data / (p_data + p_g)) + p_g log(p_g / (p_data + p_g)): the same
  number as value(.., D*, ..), without rounding 1 - D* to 0 where p_g << p_data.
  """
  total = np.asarray(p_data, np.float64) + p_g
  return float(np.sum(_xlog_ratio(p_data, total) + _xlog_ratio(p_g, total)) * grid_step(x))


def jsd(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
  """Jensen-Shannon divergence (nats) of two densities on the grid, in [0, log 2]."""
  m = 0.5 * (np.asarray(p, np.float64) + q)
  return float(0.5 * np.sum(_xlog_ratio(p, m) + _xlog_ratio(q, m)) * grid_step(x))


def support_mask(p_data: np.ndarray, p_g: np.ndarray, rel: float = 1e-2) -> np.ndarray:
  """Where p_data + p_g exceeds `rel` times its peak: where D is constrained by data at all.

  Far out in the tails D* is a ratio of two vanishing densities that no finite sample
  constrains, so errors against D* are measured only on this mask.
  """
  total = np.asarray(p_data) + np.asarray(p_g)
  return total > rel * total.max()


def discriminator_errors(d: np.ndarray, d_star: np.ndarray, mask: np.ndarray) -> dict[str, float]:
  """Max and mean |D - D*| over the grid points in `mask`."""
  err = np.abs(np.asarray(d, np.float64) - d_star)[mask]
  return {'max': float(err.max()), 'mean': float(err.mean())}


def mode_shares(samples: np.ndarray, means, stds, width: float = 3.0) -> np.ndarray:
  """The share of samples within `width` standard deviations of each mode (nearest mode wins,
  in units of its std), and last the share near none of them: [num_modes + 1]."""
  samples = np.asarray(samples, np.float64).reshape(-1, 1)
  distance = np.abs(samples - np.asarray(means)) / np.asarray(stds)
  nearest = np.argmin(distance, axis=1)
  nearest = np.where(distance.min(axis=1) <= width, nearest, len(means))
  return np.bincount(nearest, minlength=len(means) + 1) / len(samples)


def generator_gradient_norms(g_params, fake_logits_fn, z: Array) -> dict[str, Array]:
  """The norm of the gradient reaching G's parameters under each G loss (losses.py).

  Args:
    g_params: the generator's parameters.
    fake_logits_fn: (g_params, z) -> D's logits on G(z), [B].
    z: noise, [B, noise_dim].

  Returns:
    'minimax' and 'non_saturating': the global norm of d loss / d g_params for the batch-mean
    loss; 'd_fake': D(G(z)) per sample, [B]; 'logit_grad': |d logit / d g_params| per sample,
    [B].
  """
  out = {}
  for name, loss in losses.GENERATOR_LOSSES.items():
    grads = jax.grad(lambda p, loss=loss: loss(fake_logits_fn(p, z)))(g_params)
    out[name] = optax.global_norm(grads)
  out['d_fake'] = jax.nn.sigmoid(fake_logits_fn(g_params, z))
  logit_grad = jax.vmap(jax.grad(lambda p, z: fake_logits_fn(p, z[None])[0]), (None, 0))
  out['logit_grad'] = jax.vmap(optax.global_norm)(logit_grad(g_params, z))
  return out


def saturation_ratio(d_fake: Array) -> Array:
  """|grad non-saturating| / |grad minimax| for one sample with D(G(z)) = d_fake.

  With l D's logit, d/dl of -log sigmoid(l) is -(1 - D) and of log(1 - sigmoid(l)) is -D: both
  losses send G the same direction dl/dtheta_g, scaled by (1 - D) and D.
  """
  return (1.0 - d_fake) / d_fake


def batch_saturation_ratio(d_fake: Array, logit_grad: Array) -> Array:
  """The batch ratio if the per-sample gradients dl_i/dtheta_g all pointed the same way:
  sum (1 - D_i) |dl_i| / sum D_i |dl_i|. Samples that D rejects least dominate the minimax
  gradient, so this is not (1 - mean D) / mean D when D(G(z)) spreads over decades."""
  return jnp.sum((1.0 - d_fake) * logit_grad) / jnp.sum(d_fake * logit_grad)
