r"""Evaluates a generator: the paper's Parzen protocol (Table 1) and modern metrics, each next to
the same metric on real data, plus Figures 2 and 3. Writes eval.json and eval.md.

  python -m experiments.evaluate --workdir=runs/mnist_5k                 # newest checkpoint
  python -m experiments.evaluate --samples=samples.npy --dataset=fashion_mnist --out_dir=eval

--samples takes float32 [N, H, W, C] or [N, H*W*C] in [0, 1] from any framework. The first run
per data set trains its evaluation classifier (seconds to a minute for the 28x28 sets; CIFAR-10's
convnet wants an accelerator) and caches it. A GCN model's samples are measured as shown,
stretched per image, against real images stretched alike (gan_jax.evaluation.protocol).
"""

import os

from absl import flags

from experiments import cli
from gan_jax import data, evaluation
from gan_jax.base.config import MAX_SEED
from gan_jax.evaluation import metrics, parzen, report
from gan_jax.evaluation import samples as samples_lib

flags.DEFINE_string('workdir', None, 'Training workdir: evaluate its checkpoint (writes there).')
flags.DEFINE_integer('step', None, 'Checkpoint step to restore (default: the newest).')
flags.DEFINE_string(
  'samples', None, '.npy of float [N, H, W, C] or [N, H*W*C] in [0, 1], instead of --workdir.'
)
flags.DEFINE_string(
  'out_dir',
  None,
  'Where eval.json, eval.md and figures go (default: --workdir; required with --samples).',
)
flags.DEFINE_enum(
  'dataset',
  None,
  data.DATASETS,
  "Data set to compare with (default: the checkpoint's; required with --samples).",
)
flags.DEFINE_integer(
  'num_samples',
  parzen.NUM_SAMPLES,
  'Samples drawn from the checkpoint (the paper: 10,000).',
  lower_bound=samples_lib.MIN_SAMPLES,
)
flags.DEFINE_enum(
  'against',
  'test',
  evaluation.protocol.AGAINST,
  'Compare with the test split '
  "(the paper's protocol: report a chosen model once) or with validation images "
  '(to choose between models without reading the test split).',
)
flags.DEFINE_integer(
  'seed', 0, "Seed of the noise (and of Figure 3's pairs).", lower_bound=0, upper_bound=MAX_SEED
)
flags.DEFINE_enum(
  'preprocessing',
  None,
  ['pixels', 'gcn'],
  'How the samples were made: gcn '
  "for a contrast-normalised model's samples, each stretched onto [0, 1]; real "
  "images are then measured stretched the same way (default: the checkpoint's; "
  'pixels with --samples).',
)
flags.DEFINE_string('data_dir', None, "TFDS data directory (default: the checkpoint's config).")
flags.DEFINE_string(
  'manual_dir', None, "Raw data files directory (default: the checkpoint's config)."
)
flags.DEFINE_string(
  'cache_dir',
  None,
  'Evaluation classifier cache (default: ~/.cache/gan_jax/classifiers/<dataset>).',
)
flags.DEFINE_integer(
  'classifier_epochs',
  None,
  'Epochs of the evaluation classifier (default: per data set); a different value retrains it.',
  lower_bound=1,
)
flags.DEFINE_integer('kid_subsets', metrics.KID_SUBSETS, 'KID subsets.', lower_bound=1)
flags.DEFINE_integer('kid_subset_size', metrics.KID_SUBSET_SIZE, 'KID subset size.', lower_bound=2)
flags.DEFINE_bool(
  'memorisation',
  True,
  'Nearest training images of samples and test images, Figure 2 and the distance histogram.',
)
flags.DEFINE_bool('overwrite', False, 'Replace an earlier eval.json and eval.md in --out_dir.')
flags.DEFINE_bool(
  'raw_generator',
  False,
  "Use G itself, not the average of G's parameters that a run with --g_ema_decay keeps (runs "
  'without an average always use G).',
)
flags.DEFINE_bool('figures', True, 'Write Figure 2, Figure 3 (with --workdir) and the histogram.')
cli.path_flags('workdir', 'samples', 'out_dir', 'data_dir', 'manual_dir', 'cache_dir')
FLAGS = flags.FLAGS


def main(argv):
  cli.no_positional_args(argv)
  # A flag left at its default is None to the library, which refuses checkpoint-only flags
  # given with --samples.
  given = lambda name: FLAGS[name].value if FLAGS[name].present else None
  results, out_dir = report.evaluate_to_dir(
    workdir=FLAGS.workdir,
    samples=FLAGS.samples,
    out_dir=FLAGS.out_dir,
    dataset=FLAGS.dataset,
    step=FLAGS.step,
    num_samples=given('num_samples'),
    against=FLAGS.against,
    seed=FLAGS.seed,
    preprocessing=FLAGS.preprocessing,
    data_dir=FLAGS.data_dir,
    manual_dir=FLAGS.manual_dir,
    cache_dir=FLAGS.cache_dir,
    classifier_epochs=FLAGS.classifier_epochs,
    kid_subsets=FLAGS.kid_subsets,
    kid_subset_size=FLAGS.kid_subset_size,
    memorisation=FLAGS.memorisation,
    figures=FLAGS.figures,
    raw_generator=FLAGS.raw_generator,
    overwrite=FLAGS.overwrite,
  )
  print(report.markdown(results))
  print(f'wrote {os.path.join(out_dir, report.JSON_FILE)} and {report.MARKDOWN_FILE}')


if __name__ == '__main__':
  cli.run(main)
