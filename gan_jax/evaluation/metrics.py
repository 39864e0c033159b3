"""Modern sample-quality metrics on an evaluation classifier's features and predictions.

Each takes features or class probabilities of a generated set and of a real set, so every
number can be recomputed with real images in place of samples (the reference row):
  Fréchet distance (Heusel et al. 2017), kernel distance KID (Bińkowski et al. 2018),
  classifier score (the Inception score of Salimans et al. 2016 with our classifier),
  class coverage, and k-NN precision/recall (Kynkäänniemi et al. 2019).
"""

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from gan_jax.evaluation import distances

# Subsets of KID: torch-fidelity's 100 x 1000 (Bińkowski et al.'s polynomial_mmd_averages
# defaults to 50 x 1000; more subsets only lower the noise of the mean).
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
# Kynkäänniemi et al.'s k.
PR_NEIGHBOURS = 3


@dataclasses.dataclass(frozen=True)
class Gaussian:
  """Mean and covariance (ddof 1, as TTUR's FID) of a feature set, float64."""

  mean: np.ndarray
  cov: np.ndarray

  @classmethod
  def fit(cls, features) -> 'Gaussian':
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
      raise ValueError(f'need features [N >= 2, D], got {features.shape}')
    return cls(features.mean(axis=0), np.cov(features, rowvar=False))


def frechet_distance(a: Gaussian, b: Gaussian, *, eps: float = 1e-6) -> float:
  """‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2(Σ_a Σ_b)^½), in float64.

  scipy.linalg.sqrtm (Schur method) is the square root TTUR and pytorch-fid use: accurate for the
  non-symmetric product Σ_a Σ_b, whose eigenvalues are real and >= 0. As they do, a product
  without an accurate root (singular: dead features, fewer points than dimensions) is retried
  with eps added to both diagonals, and the round-off imaginary part is dropped.
  """
  diff = a.mean - b.mean
  product = a.cov @ b.cov
  covmean = _sqrtm(product)
  if not _is_root(covmean, product):
    offset = np.eye(a.cov.shape[0]) * eps
    product = (a.cov + offset) @ (b.cov + offset)
    covmean = _sqrtm(product)
  return float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2 * np.trace(covmean.real))


def _sqrtm(m: np.ndarray) -> np.ndarray:
  # Singular products (dead ReLU features, fewer points than dimensions) make scipy warn; the
  # root is checked by its residual instead.
  with warnings.catch_warnings(), np.errstate(all='ignore'):
    warnings.simplefilter('ignore')
    root = scipy.linalg.sqrtm(m)
  return root[0] if isinstance(root, tuple) else root


def _is_root(root: np.ndarray, m: np.ndarray, tol: float = 1e-6) -> bool:
  if not np.isfinite(root).all():
    return False
  return np.linalg.norm(root @ root - m) <= tol * max(np.linalg.norm(m), 1e-300)


def polynomial_kernel(x, y):
  """KID's kernel k(x, y) = (x·y / d + 1)³ (numpy or jax arrays)."""
  both_numpy = isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
  k = (x @ y.T if both_numpy else distances.matmul(x, y.T)) / x.shape[1] + 1.0
  return k * k * k


def kernel_distance(
  features_a,
  features_b,
  *,
  num_subsets: int = KID_SUBSETS,
  subset_size: int = KID_SUBSET_SIZE,
  seed: int = 0,
) -> tuple[float, float]:
  """KID: unbiased MMD² averaged over random subsets, as Bińkowski et al.'s
  polynomial_mmd_averages (each subset: `subset_size` points of each set drawn without
  replacement, capped at the smaller set's size).

  The kernel matrices are float32 JAX matmuls (7x numpy's float64 here: 100 subsets of 1000
  take ~1.5 s, not ~9 s); their row sums (1000 terms each) are finished in float64, which keeps
  the result within ~1e-6 relative of a float64 computation.

  Returns:
    (mean, std) over the subsets.
  """
  a, b = np.asarray(features_a, np.float32), np.asarray(features_b, np.float32)
  m = min(subset_size, a.shape[0], b.shape[0])
  if m < 2:
    raise ValueError(f'KID needs at least 2 points per set, got {a.shape[0]} and {b.shape[0]}')
  rng = np.random.default_rng(seed)
  index_a = np.stack([rng.choice(a.shape[0], m, replace=False) for _ in range(num_subsets)])
  index_b = np.stack([rng.choice(b.shape[0], m, replace=False) for _ in range(num_subsets)])
  sums = np.asarray(
    _kid_row_sums(jnp.asarray(a), jnp.asarray(b), jnp.asarray(index_a), jnp.asarray(index_b)),
    np.float64,
  ).sum(axis=-1)
  values = (sums[:, 0] + sums[:, 1]) / (m * (m - 1)) - 2 * sums[:, 2] / (m * m)
  return float(values.mean()), float(values.std())


@jax.jit
def _kid_row_sums(a, b, index_a, index_b):
  """Per subset, row sums [3, m] of K_xx and K_yy without their diagonals, and of K_xy."""

  def one(indices):
    x, y = a[indices[0]], b[indices[1]]
    off_diagonal = 1.0 - jnp.eye(x.shape[0], dtype=x.dtype)
    return jnp.stack(
      [
        jnp.sum(polynomial_kernel(x, x) * off_diagonal, axis=1),
        jnp.sum(polynomial_kernel(y, y) * off_diagonal, axis=1),
        jnp.sum(polynomial_kernel(x, y), axis=1),
      ]
    )

  return jax.lax.map(one, (index_a, index_b))


def classifier_score(probs) -> float:
  """exp(E_x KL(p(y|x) ‖ p(y))), p(y) the mean prediction: 1 (one class or uniform predictions)
  up to the number of classes (confident and balanced)."""
  p = np.asarray(probs, np.float64)
  marginal = p.mean(axis=0, keepdims=True)
  kl = np.sum(p * (_safe_log(p) - _safe_log(marginal)), axis=1)
  return float(np.exp(kl.mean()))


def class_histogram(probs, num_classes: int) -> np.ndarray:
  """Share of points whose argmax prediction is each class, float64 [num_classes]."""
  predicted = np.argmax(np.asarray(probs), axis=1)
  return np.bincount(predicted, minlength=num_classes) / max(len(predicted), 1)


def coverage(probs, reference_histogram) -> dict[str, float]:
  """Which classes the samples reach, by the classifier's argmax.

  Returns:
    coverage: share of classes predicted at least once.
    class_kl: KL(sample class mix ‖ reference class mix) in nats; 0 when the mixes agree.
  """
  reference = np.asarray(reference_histogram, np.float64)
  hist = class_histogram(probs, reference.shape[0])
  kl = np.sum(hist * (_safe_log(hist) - _safe_log(reference)))
  return {'coverage': float(np.mean(hist > 0)), 'class_kl': float(kl)}


def _safe_log(p: np.ndarray) -> np.ndarray:
  # 0 log 0 = 0: zero probabilities contribute nothing wherever they multiply.
  return np.log(np.where(p > 0, p, 1.0))


def knn_radii(features, k: int = PR_NEIGHBOURS) -> np.ndarray:
  """Squared distance of each point to its k-th nearest other point (itself excluded)."""
  sq, _ = distances.nearest(features, features, k=k + 1)
  return sq[:, k]


def precision_recall(
  real_features, fake_features, *, k: int = PR_NEIGHBOURS, real_radii: np.ndarray | None = None
) -> dict[str, float]:
  """Improved precision and recall (Kynkäänniemi et al. 2019).

  Each set's manifold is the union of balls around its points reaching their k-th nearest
  neighbour. Precision: share of fakes inside the real manifold. Recall: share of reals inside
  the fake manifold.

  Args:
    real_features, fake_features: [N, D] and [M, D], N, M > k.
    k: neighbours defining the radii.
    real_radii: precomputed knn_radii(real_features, k), to reuse across calls.

  Returns:
    {'precision': float, 'recall': float}.
  """
  real, fake = np.asarray(real_features, np.float32), np.asarray(fake_features, np.float32)
  if min(real.shape[0], fake.shape[0]) <= k:
    raise ValueError(
      f'precision/recall with k={k} needs more than {k} points per set, got '
      f'{real.shape[0]} and {fake.shape[0]}'
    )
  if real_radii is None:
    real_radii = knn_radii(real, k)
  precision = distances.within_any_ball(fake, real, real_radii).mean()
  recall = distances.within_any_ball(real, fake, knn_radii(fake, k)).mean()
  return {'precision': float(precision), 'recall': float(recall)}
