"""Evaluation: the paper's Parzen protocol (Table 1), modern metrics beside it, Figures 2 and 3.

Every number comes with the same number computed on real data (training images in place of
samples), and every feature-space number with the identity (sha256) and test accuracy of the
classifier that defines the features.

  from gan_jax import evaluation
  ref = evaluation.prepare('mnist_5k')                   # once: data, classifier, test stats
  results, arrays = evaluation.evaluate(samples, ref)    # eval.json's content
  eval_fn = evaluation.make_eval_fn(config)              # for train.train_and_evaluate
"""

from gan_jax.evaluation.classifier import Classifier, Recipe, default_cache_dir
from gan_jax.evaluation.classifier import load_or_train as load_or_train_classifier
from gan_jax.evaluation.metrics import (
  classifier_score,
  coverage,
  frechet_distance,
  kernel_distance,
  precision_recall,
)
from gan_jax.evaluation.parzen import parzen_estimate, parzen_log_likelihood
from gan_jax.evaluation.protocol import (
  SCALARS,
  Reference,
  generate_samples,
  held_out_sets,
  make_eval_fn,
  make_parzen_eval_fn,
  metrics_against_test,
  prepare,
  real_data_metrics,
)
from gan_jax.evaluation.report import evaluate, write, write_figures
