"""Evaluation: the paper's Parzen protocol (Table 1), modern metrics beside it, Figures 2 and 3.

Every number comes with the same number computed on real data (training images in place of
samples), and every feature-space number with the identity (sha256) and test accuracy of the
classifier that defines the features.

  from gan_jax import evaluation
  ref = evaluation.prepare('mnist_5k')                   # once: data, classifier, test stats
  results, arrays = evaluation.evaluate(samples, ref)    # eval.json's content
  eval_fn = evaluation.make_eval_fn(config)              # for train.train_and_evaluate
"""

from gan_jax.evaluation.classifier import Classifier
from gan_jax.evaluation.classifier import Recipe
from gan_jax.evaluation.classifier import default_cache_dir
from gan_jax.evaluation.classifier import load_or_train as load_or_train_classifier
from gan_jax.evaluation.metrics import classifier_score
from gan_jax.evaluation.metrics import coverage
from gan_jax.evaluation.metrics import frechet_distance
from gan_jax.evaluation.metrics import kernel_distance
from gan_jax.evaluation.metrics import precision_recall
from gan_jax.evaluation.parzen import parzen_estimate
from gan_jax.evaluation.parzen import parzen_log_likelihood
from gan_jax.evaluation.protocol import Reference
from gan_jax.evaluation.protocol import SCALARS
from gan_jax.evaluation.protocol import generate_samples
from gan_jax.evaluation.protocol import held_out_sets
from gan_jax.evaluation.protocol import make_eval_fn
from gan_jax.evaluation.protocol import make_parzen_eval_fn
from gan_jax.evaluation.protocol import metrics_against_test
from gan_jax.evaluation.protocol import prepare
from gan_jax.evaluation.protocol import real_data_metrics
from gan_jax.evaluation.report import evaluate
from gan_jax.evaluation.report import write
from gan_jax.evaluation.report import write_figures
