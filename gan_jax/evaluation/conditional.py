"""Metrics that use the condition: does a conditional G make the class it is asked for, and how
well does it model each class?

conditional accuracy: the share of samples that the evaluation classifier assigns to the class
  they were drawn for. Its real-data row is the classifier's accuracy on the held-out images
  (what a perfect conditional generator would reach, since the classifier errs on real images
  too).
per-class Fréchet distance: the FD between the samples of class c and the held-out images of
  class c, in the classifier's features; its mean over the classes. Each class's FD rests on
  about 1/num_classes of the images, so it is larger than the unconditional FD for the same
  quality: compare it only with its real-data row (training images of class c in place of the
  samples, as many per class).
"""

import numpy as np

from gan_jax.evaluation import metrics


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
  """Share of rows whose most probable class is their label."""
  return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels)))


def per_class_frechet(
  features: np.ndarray, labels: np.ndarray, ref_features: np.ndarray, ref_labels: np.ndarray
) -> list[float]:
  """FD between the rows of each class in `features` and those of the class in `ref_features`
  (NaN for a class with fewer than two rows on either side)."""
  out = []
  for c in range(int(max(labels.max(initial=0), ref_labels.max(initial=0))) + 1):
    a, b = features[labels == c], ref_features[ref_labels == c]
    if len(a) < 2 or len(b) < 2:
      out.append(float('nan'))
      continue
    out.append(metrics.frechet_distance(metrics.Gaussian.fit(a), metrics.Gaussian.fit(b)))
  return out


def conditional_metrics(
  features: np.ndarray,
  probs: np.ndarray,
  labels: np.ndarray,
  ref_features: np.ndarray,
  ref_labels: np.ndarray,
) -> dict:
  """{'conditional_accuracy', 'class_frechet_distance' (list), 'mean_class_frechet_distance'}
  of images whose classifier features/probabilities are given, drawn for `labels`, against
  held-out images' features and labels."""
  per_class = per_class_frechet(features, labels, ref_features, ref_labels)
  return {
    'conditional_accuracy': accuracy(probs, labels),
    'class_frechet_distance': per_class,
    'mean_class_frechet_distance': float(np.nanmean(per_class)),
  }
