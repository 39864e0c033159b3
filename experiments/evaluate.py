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
from gan_jax.base.errors import UserError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import metrics, parzen, report
from gan_jax.evaluation import samples as samples_lib
from gan_jax.runtime import resources, sampling
from gan_jax.runtime import workdir as workdir_lib

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
  if (FLAGS.workdir is None) == (FLAGS.samples is None):
    raise UserError('pass exactly one of --workdir (a checkpoint) or --samples (a .npy file)')
  if FLAGS.samples is not None and (FLAGS.dataset is None or FLAGS.out_dir is None):
    raise UserError('--samples needs --dataset (which data set to compare with) and --out_dir')
  ignored = [f'--{n}' for n in ('step', 'num_samples') if FLAGS[n].present]
  if FLAGS.samples is not None and ignored:
    raise UserError(
      f'{" and ".join(ignored)} {"do" if len(ignored) > 1 else "does"} not apply to --samples '
      '(they choose a checkpoint and draw from its generator; the file is evaluated as it '
      'is): drop them, or evaluate --workdir instead'
    )
  if FLAGS.workdir == '' or FLAGS.samples == '':
    raise UserError(
      f'--{"workdir" if FLAGS.workdir == "" else "samples"} is empty (an unset '
      'shell variable?); pass a path'
    )
  out_dir = FLAGS.workdir if FLAGS.out_dir is None else FLAGS.out_dir
  # Only into a new directory, an evaluation's or a run's; an earlier report only on request.
  workdir_lib.check(out_dir, (workdir_lib.EVAL, workdir_lib.RUN), '--out_dir')
  if os.path.exists(os.path.join(out_dir, report.JSON_FILE)) and not FLAGS.overwrite:
    raise UserError(
      f'--out_dir={out_dir} already holds {report.JSON_FILE}; pass --overwrite to '
      'replace it, or another --out_dir'
    )
  gan = g_params = step = config = labels = None
  if FLAGS.workdir is not None:
    restored = sampling.restore(FLAGS.workdir, FLAGS.step, raw=FLAGS.raw_generator)
    config, gan, g_params, step = restored.config, restored.gan, restored.g_params, restored.step
    dataset = FLAGS.dataset or config.dataset
    if data.image_shape(dataset) != tuple(restored.image_shape):
      raise UserError(
        f'--dataset={dataset} has images of shape {data.image_shape(dataset)}, the '
        f'checkpoint makes {tuple(restored.image_shape)}; pick a matching data set'
      )
    resources.check_evaluation(
      f'--num_samples={FLAGS.num_samples}', FLAGS.num_samples, restored.image_shape
    )
    if restored.gan.conditional:  # labels in the training split's class mix
      labels = sampling.class_mix_labels(restored.class_mix, FLAGS.num_samples, seed=FLAGS.seed)
    samples = restored.sample(FLAGS.num_samples, seed=FLAGS.seed, labels=labels)
    which = 'the average of G' if restored.averaged else 'G'
    source = f'checkpoint {os.path.abspath(FLAGS.workdir)} step {step} ({which}), seed {FLAGS.seed}'
  else:
    dataset = FLAGS.dataset
    samples = samples_lib.load_samples(FLAGS.samples, data.image_shape(dataset))
    source = f'samples file {os.path.abspath(FLAGS.samples)}'
  workdir_lib.claim(out_dir, (workdir_lib.EVAL, workdir_lib.RUN), '--out_dir')

  def from_config(name):
    if getattr(FLAGS, name) is not None:
      return getattr(FLAGS, name)
    return (getattr(config, name) or None) if config is not None else None

  preprocessing = FLAGS.preprocessing or (
    config.resolved_preprocessing if config is not None else 'pixels'
  )
  recipe = classifier_lib.Recipe.for_dataset(
    dataset, **({'epochs': FLAGS.classifier_epochs} if FLAGS.classifier_epochs else {})
  )
  ref = evaluation.prepare(
    dataset,
    against=FLAGS.against,
    data_dir=from_config('data_dir'),
    manual_dir=from_config('manual_dir'),
    cache_dir=FLAGS.cache_dir,
    recipe=recipe,
    preprocessing=preprocessing,
  )
  results, arrays = evaluation.evaluate(
    samples,
    ref,
    step=step,
    source=source,
    with_memorisation=FLAGS.memorisation,
    labels=labels,
    kid_subsets=FLAGS.kid_subsets,
    kid_subset_size=FLAGS.kid_subset_size,
  )
  if FLAGS.figures:
    results['figures'] = evaluation.write_figures(
      out_dir, samples, ref, arrays, gan=gan, g_params=g_params, seed=FLAGS.seed
    )
  evaluation.write(out_dir, results)
  print(report.markdown(results))
  print(f'wrote {os.path.join(out_dir, "eval.json")} and eval.md')


if __name__ == '__main__':
  cli.run(main)
