"""Memorisation check: how close samples come to the training set, next to real test images.

The paper's Figure 2 shows each sample's nearest training example (squared Euclidean distance
in pixel space). A single picture can mislead; the distribution of nearest-neighbour distances
of samples, set beside that of real held-out images, says whether samples sit closer to the
training set than new real data does (a sign of copying).
"""

import numpy as np

from gan_jax.evaluation import distances


def nearest_training_images(images, train, **chunks) -> tuple[np.ndarray, np.ndarray]:
  """Each image's nearest training image in pixel space.

  Args:
    images: [N, ...] pixels in [0, 1].
    train: [M, ...] training pixels in [0, 1].
    **chunks: chunk_queries / chunk_references of distances.nearest.

  Returns:
    (squared Euclidean distances float64 [N], indices int [N] into train).
  """
  sq, idx = distances.nearest(images, train, k=1, **chunks)
  return sq[:, 0], idx[:, 0]


def memorisation_summary(sample_sq: np.ndarray, test_sq: np.ndarray) -> dict[str, float]:
  """Summary numbers of nearest-training-image distances, samples vs real test images.

  Distances are Euclidean (square roots of the squared distances), pixels in [0, 1].
  `samples_closer_than_test_p01` is the share of samples nearer to the training set than 99% of
  real test images are: about 0.01 for a generator that copies no more than new real data does.

  Args:
    sample_sq, test_sq: squared nearest-neighbour distances of samples and of test images.
  """
  sample_l2, test_l2 = np.sqrt(np.maximum(sample_sq, 0)), np.sqrt(np.maximum(test_sq, 0))
  test_p01 = float(np.percentile(test_l2, 1))
  return {
    'samples_median_l2': float(np.median(sample_l2)),
    'test_median_l2': float(np.median(test_l2)),
    'samples_p05_l2': float(np.percentile(sample_l2, 5)),
    'test_p05_l2': float(np.percentile(test_l2, 5)),
    'samples_min_l2': float(sample_l2.min()),
    'test_min_l2': float(test_l2.min()),
    'test_p01_l2': test_p01,
    'samples_closer_than_test_p01': float(np.mean(sample_l2 < test_p01)),
    'num_samples': int(sample_l2.shape[0]),
    'num_test': int(test_l2.shape[0]),
  }
