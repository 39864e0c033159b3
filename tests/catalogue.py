"""The bad-input catalogue: what a hostile user types, and the one line each must get back.

Each row: (case, entry point, arguments, exit code, words the one `error:` line must contain,
paths that must be byte-identical afterwards). `{name}` in an argument is a fixture built fresh
in the row's own sandbox directory (FIXTURES below; `{tmp}` is the sandbox itself), so no row
can disturb another, and nothing may appear in the sandbox: a refused command writes nothing.
tests/test_catalogue.py runs every row.
"""

import fcntl
import gzip
import json
import os
import shutil

import numpy as np

from gan_jax.data import idx
from gan_jax.runtime import workdir as workdir_lib

TRAIN, SAMPLE, EVALUATE, SWEEP, TOY1D, REPRODUCE = (
  'experiments.train',
  'experiments.sample',
  'experiments.evaluate',
  'experiments.sweep',
  'experiments.toy1d',
  'experiments.reproduce',
)
PUBLISHED = '--results={published}/RESULTS.md'  # a page holding Table 1's three seeds
TEST = '--flagfile=experiments/configs/test.flags'
SWEEP_BASE = (TEST, '--workdir={tmp}/sweep')

ROWS = [
  # ------------------------------------------------------------- experiments.train: flags
  (
    'unknown_flag',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--bogus=1'],
    2,
    ["Unknown command line flag 'bogus'"],
    [],
  ),
  (
    'unknown_dataset',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--dataset=imagenet'],
    2,
    ['--dataset'],
    [],
  ),
  (
    'zero_batch_size',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--batch_size=0'],
    2,
    ['--batch_size must be positive'],
    [],
  ),
  (
    'negative_learning_rate',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--learning_rate=-0.1'],
    2,
    ['--learning_rate must be positive'],
    [],
  ),
  (
    'nan_learning_rate',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--learning_rate=nan'],
    2,
    ['--learning_rate=nan is not a finite number'],
    [],
  ),
  (
    'inf_d_learning_rate',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--d_learning_rate=inf'],
    2,
    ['--d_learning_rate=inf is not a finite number'],
    [],
  ),
  (
    'nan_momentum',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--momentum=nan'],
    2,
    ['--momentum=nan is not a finite number'],
    [],
  ),
  (
    'minus_inf_init_scale',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--g_init_scale=-inf'],
    2,
    ['--g_init_scale=-inf is not a finite number'],
    [],
  ),
  (
    'zero_steps',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--num_steps=0'],
    2,
    ['--num_steps must be positive'],
    [],
  ),
  (
    'negative_width',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--g_hidden=32,-4'],
    2,
    ['--g_hidden must hold positive widths'],
    [],
  ),
  ('not_a_number', TRAIN, [TEST, '--workdir={tmp}/w', '--noise_dim=ten'], 2, ['noise_dim'], []),
  (
    'seed_above_32_bits',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--seed=4294967296'],
    2,
    ['--seed=4294967296 is above 4294967295'],
    [],
  ),
  (
    'seed_beyond_int64',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--seed=99999999999999999999'],
    2,
    ['--seed=99999999999999999999 is above'],
    [],
  ),
  (
    'positional_argument',
    TRAIN,
    [TEST, '--workdir={tmp}/w', 'oops'],
    2,
    ['unexpected arguments'],
    [],
  ),
  ('missing_workdir_flag', TRAIN, [TEST], 2, ['--workdir', 'must have a value'], []),
  # ----------------------------------------------------------------------------- flagfiles
  (
    'missing_flagfile',
    TRAIN,
    ['--flagfile={tmp}/nope.flags', '--workdir={tmp}/w'],
    2,
    ['nope.flags does not exist'],
    [],
  ),
  (
    'binary_flagfile',
    TRAIN,
    ['--flagfile={binary_flags}', '--workdir={tmp}/w'],
    2,
    ['is not UTF-8 text'],
    ['binary_flags'],
  ),
  (
    'endless_flagfile',
    TRAIN,
    ['--flagfile=/dev/zero', '--workdir={tmp}/w'],
    2,
    ['/dev/zero is not a regular file'],
    [],
  ),
  (
    'huge_flagfile',
    TRAIN,
    ['--flagfile={huge_flags}', '--workdir={tmp}/w'],
    2,
    ['bytes, not a flagfile'],
    ['huge_flags'],
  ),
  (
    'nul_flagfile',
    TRAIN,
    ['--flagfile={nul_flags}', '--workdir={tmp}/w'],
    2,
    ['holds NUL bytes'],
    ['nul_flags'],
  ),
  (
    'flagfile_is_a_directory',
    TRAIN,
    ['--flagfile={foreign}', '--workdir={tmp}/w'],
    2,
    ['is a directory; pass a flagfile'],
    ['foreign'],
  ),
  (
    'circular_flagfile',
    TRAIN,
    ['--flagfile={circular_flags}', '--workdir={tmp}/w'],
    2,
    ['includes itself'],
    ['circular_flags'],
  ),
  (
    'nested_binary_flagfile',
    TRAIN,
    ['--flagfile={nested_flags}', '--workdir={tmp}/w'],
    2,
    ['binary.flags (named in', 'nested.flags)', 'is not UTF-8 text'],
    ['nested_flags', 'binary_flags'],
  ),
  (
    'empty_flagfile',
    TRAIN,
    ['--flagfile=', TEST, '--workdir={tmp}/w'],
    2,
    ['--flagfile= is empty', 'pass a flagfile'],
    [],
  ),
  # ------------------------------------------------- paths and text: validated once at entry
  (
    'workdir_not_utf8',
    TRAIN,
    [TEST, '--workdir={tmp}/bad\udcff\udcfedir'],
    2,
    ['bad\\xff\\xfedir is not valid UTF-8 (byte 0xff)', 'rename it'],
    [],
  ),
  ('workdir_only_blanks', TRAIN, [TEST, '--workdir= '], 2, ['--workdir is only blanks'], []),
  (
    'newline_in_data_dir',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--data_dir={tmp}/a\nb'],
    2,
    ['--data_dir=', "holds the control character '\\n'"],
    [],
  ),
  (
    'escape_in_workdir',
    TRAIN,
    [TEST, '--workdir={tmp}/\x1b[31mred'],
    2,
    ["holds the control character '\\x1b'"],
    [],
  ),
  (
    'newline_in_coordinator_address',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--coordinator_address=h:1\nx'],
    2,
    ['--coordinator_address=', "control character '\\n'"],
    [],
  ),
  # ------------------------------------------------------------- float32, the devices' type
  (
    'learning_rate_overflows_float32',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--learning_rate=1e39'],
    2,
    ['--learning_rate=1e+39 overflows float32', 'pass a smaller value'],
    [],
  ),
  (
    'init_scale_is_zero_in_float32',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--g_init_scale=1e-46'],
    2,
    ['--g_init_scale=1e-46 is 0 in float32'],
    [],
  ),
  # ------------------------------------------------------------------ data and resources
  (
    'batch_larger_than_data',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--batch_size=5000'],
    2,
    ['larger than the training split'],
    [],
  ),
  (
    'missing_data_directory',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--dataset=mnist', '--manual_dir={tmp}/nowhere'],
    2,
    ['/nowhere does not exist; pass the directory that holds the four idx files of MNIST'],
    [],
  ),
  (
    'data_directory_is_a_file',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--dataset=fashion_mnist', '--manual_dir={a_file}'],
    2,
    ['/a_file is not a directory; pass the directory that holds the four idx files'],
    ['a_file'],
  ),
  (
    'empty_data_directory',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--dataset=fashion_mnist', '--manual_dir={tmp}'],
    2,
    ['Data set fashion_mnist not found', 'the four idx files in'],
    [],
  ),
  (
    'mnist_5k_with_a_data_directory',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--dataset=mnist_5k', '--manual_dir={foreign}'],
    2,
    ['mnist_5k reads no --manual_dir', 'drop --manual_dir='],
    ['foreign'],
  ),
  (
    'cifar10_data_missing',
    TRAIN,
    [
      '--flagfile=experiments/configs/cifar10_fc.flags',
      '--workdir={tmp}/w',
      '--data_dir={tmp}/tfds',
    ],
    2,
    [
      'Data set cifar10 not found',
      'cifar-10-batches-bin',
      'into --manual_dir=DIR',
      "prepare TFDS's cifar10",
    ],
    [],
  ),
  (
    'idx_wrong_magic',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--dataset=mnist', '--manual_dir={magic_idx}'],
    2,
    ['magic'],
    ['magic_idx'],
  ),
  (
    'dataset_without_labels',  # every label 0: nothing to condition on
    TRAIN,
    [
      TEST,
      '--workdir={tmp}/w',
      '--dataset=mnist',
      '--manual_dir={unlabelled_idx}',
      '--model=mnist_mlp_cgan',
    ],
    2,
    ['no class labels to condition on', '1 class among 50000 examples', 'labelled data set'],
    ['unlabelled_idx'],
  ),
  (
    'idx_truncated',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--dataset=mnist', '--manual_dir={truncated_idx}'],
    2,
    ['truncated'],
    ['truncated_idx'],
  ),
  (
    'idx_gzip_bomb',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--dataset=mnist', '--manual_dir={bomb_idx}'],
    2,
    ['train-images-idx3-ubyte.gz', 'declares (1000000, 28, 28)', 'refused before inflating'],
    ['bomb_idx'],
  ),
  (
    'huge_noise_dim',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--noise_dim=1000000000'],
    2,
    ['--noise_dim=1000000000', 'needs about', 'more than the', 'use smaller shape flags'],
    [],
  ),
  (
    'huge_widths',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--g_hidden=200000,200000'],
    2,
    ['--g_hidden=200000,200000', 'needs about', 'more than the'],
    [],
  ),
  (
    'huge_num_grid_samples',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--num_grid_samples=100000000'],
    2,
    ['--num_grid_samples=100000000 needs about', 'more than the', 'ask for fewer samples'],
    [],
  ),
  (
    'huge_eval_num_samples',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--eval_every=20', '--eval_num_samples=1000000000'],
    2,
    ['--eval_num_samples=1000000000 needs about', 'evaluate fewer samples'],
    [],
  ),
  (
    'num_steps_beyond_int32',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--num_steps=1000000000000000000'],
    2,
    ['--num_steps=1000000000000000000 is beyond 2147483647', 'int32'],
    [],
  ),
  # ------------------------------------------------------------------ distributed flags
  (
    'coordinator_without_port',
    TRAIN,
    [
      TEST,
      '--workdir={tmp}/w',
      '--coordinator_address=host0',
      '--num_processes=2',
      '--process_id=0',
    ],
    2,
    ["--coordinator_address='host0' is not host:port"],
    [],
  ),
  (
    'coordinator_port_out_of_range',
    TRAIN,
    [
      TEST,
      '--workdir={tmp}/w',
      '--coordinator_address=host0:99999',
      '--num_processes=2',
      '--process_id=0',
    ],
    2,
    ["--coordinator_address='host0:99999' is not host:port"],
    [],
  ),
  (
    'coordinator_with_spaces',
    TRAIN,
    [
      TEST,
      '--workdir={tmp}/w',
      '--coordinator_address=host 0:1234',
      '--num_processes=2',
      '--process_id=0',
    ],
    2,
    ['is not host:port'],
    [],
  ),
  (
    'coordinator_alone',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--coordinator_address=h:1'],
    2,
    ['needs --num_processes, --process_id too'],
    [],
  ),
  (
    'process_id_out_of_range',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--coordinator_address=h:1', '--num_processes=2', '--process_id=2'],
    2,
    ['--process_id=2 must be in [0, --num_processes=2)'],
    [],
  ),
  # ------------------------------------------------------------------- workdir guarding
  ('empty_workdir', TRAIN, [TEST, '--workdir='], 2, ['--workdir is empty'], []),
  (
    'empty_workdir_overwrite',
    TRAIN,
    [TEST, '--workdir=', '--overwrite'],
    2,
    ['--workdir is empty'],
    [],
  ),
  (
    'foreign_workdir',
    TRAIN,
    [TEST, '--workdir={foreign}'],
    2,
    ['is not empty', 'was not written by gan_jax', 'pick a new or empty directory'],
    ['foreign'],
  ),
  (
    'foreign_workdir_overwrite',
    TRAIN,
    [TEST, '--workdir={foreign}', '--overwrite'],
    2,
    ['is not empty', 'was not written by gan_jax', '--overwrite included'],
    ['foreign'],
  ),
  (
    'foreign_workdir_with_escape_names',
    TRAIN,
    [TEST, '--workdir={foreign_escape}'],
    2,
    ['is not empty (red.txt)', 'was not written by gan_jax'],
    ['foreign_escape'],
  ),
  ('workdir_is_a_file', TRAIN, [TEST, '--workdir={a_file}'], 2, ['is not a directory'], ['a_file']),
  (
    'workdir_is_a_sweep',
    TRAIN,
    [TEST, '--workdir={sweep_dir}', '--overwrite'],
    2,
    ['holds a gan_jax sweep, not a run'],
    ['sweep_dir'],
  ),
  (
    'workdir_in_use',
    TRAIN,
    [TEST, '--workdir={busy_run}'],
    2,
    ['in use by another run'],
    ['busy_run'],
  ),
  (
    'incompatible_checkpoint',
    TRAIN,
    [TEST, '--workdir={run}', '--noise_dim=9'],
    2,
    ['--noise_dim was 8, now 9'],
    ['run'],
  ),
  (
    'num_steps_below_checkpoint',
    TRAIN,
    [TEST, '--workdir={run}', '--num_steps=30'],
    2,
    ['--num_steps=30 is below step 40', '--num_steps=40 or more'],
    ['run'],
  ),
  (
    'lock_is_a_directory',
    TRAIN,
    [TEST, '--workdir={run_lock_dir}'],
    2,
    ['.lock is a directory where a file is expected'],
    ['run_lock_dir'],
  ),
  (
    'checkpoints_is_a_file',
    TRAIN,
    [TEST, '--workdir={run_checkpoints_file}', '--num_steps=60'],
    2,
    ['checkpoints is a file where the checkpoints directory is expected'],
    ['run_checkpoints_file'],
  ),
  (
    'tensorboard_is_a_file',
    TRAIN,
    [TEST, '--workdir={run_tensorboard_file}', '--num_steps=60'],
    2,
    ['tensorboard is a file where the TensorBoard directory is expected'],
    ['run_tensorboard_file'],
  ),
  (
    'metrics_not_utf8',
    TRAIN,
    [TEST, '--workdir={run_bad_metrics}', '--num_steps=60'],
    2,
    ['metrics.jsonl is not UTF-8 text', 'move it away'],
    ['run_bad_metrics'],
  ),
  (
    'batch_not_divisible_by_devices',
    TRAIN,
    [TEST, '--workdir={tmp}/w', '--batch_size=30'],
    2,
    ['divisible by the number of devices (4)'],
    [],
  ),
  # ---------------------------------------------------------------- experiments.sample
  (
    'sample_labels_out_of_range',
    SAMPLE,
    ['--workdir={cgan_run}', '--num=2', '--labels=3,12', '--out={tmp}/x.png'],
    2,
    ['--labels: 12 is not a class of this model (0..9)'],
    ['cgan_run'],
  ),
  (
    'sample_labels_count_mismatch',
    SAMPLE,
    ['--workdir={cgan_run}', '--num=5', '--labels=1,2', '--out={tmp}/x.png'],
    2,
    ['--labels lists 2 labels for --num=5 samples', 'one per sample'],
    ['cgan_run'],
  ),
  (
    'sample_labels_not_classes',
    SAMPLE,
    ['--workdir={cgan_run}', '--labels=three', '--out={tmp}/x.png'],
    2,
    ["--labels='three' is not a list of classes"],
    ['cgan_run'],
  ),
  (
    'sample_labels_unconditional',
    SAMPLE,
    ['--workdir={run}', '--labels=3', '--out={tmp}/x.png'],
    2,
    ['--labels needs a conditional model', '--model=mnist_mlp', 'drop --labels'],
    ['run'],
  ),
  ('sample_no_workdir', SAMPLE, ['--out={tmp}/x.png'], 2, ['--workdir', 'must have a value'], []),
  (
    'sample_empty_workdir',
    SAMPLE,
    ['--workdir=', '--out={tmp}/x.png'],
    2,
    ['--workdir is empty'],
    [],
  ),
  (
    'sample_no_checkpoint',
    SAMPLE,
    ['--workdir={foreign}', '--out={tmp}/x.png'],
    2,
    ['no checkpoint in'],
    ['foreign'],
  ),
  (
    'sample_zero_num',
    SAMPLE,
    ['--workdir={run}', '--num=0', '--out={tmp}/x.png'],
    2,
    ['--num must be positive'],
    ['run'],
  ),
  (
    'sample_huge_num',
    SAMPLE,
    ['--workdir={run}', '--num=1000000000000', '--out={tmp}/x.npy'],
    2,
    ['--num=1000000000000 needs about', 'more than the', 'ask for fewer samples'],
    ['run'],
  ),
  (
    'sample_bad_extension',
    SAMPLE,
    ['--workdir={run}', '--out={tmp}/x.jpg'],
    2,
    ['must end in .png or .npy'],
    ['run'],
  ),
  ('sample_empty_out', SAMPLE, ['--workdir={run}', '--out='], 2, ['--out is empty'], ['run']),
  (
    'sample_out_exists',
    SAMPLE,
    ['--workdir={run}', '--out={existing_png}'],
    2,
    ['exists; pass --overwrite'],
    ['run', 'existing_png'],
  ),
  (
    'sample_out_is_a_directory',
    SAMPLE,
    ['--workdir={run}', '--out={dir_png}'],
    2,
    ['is a directory; pass a file path'],
    ['run', 'dir_png'],
  ),
  (
    'sample_out_parent_missing',
    SAMPLE,
    ['--workdir={run}', '--out={tmp}/no/such/x.png'],
    2,
    ['does not exist (or is a file)', 'create it first'],
    ['run'],
  ),
  (
    'sample_out_parent_is_a_file',
    SAMPLE,
    ['--workdir={run}', '--out={a_file}/x.png'],
    2,
    ['does not exist (or is a file)'],
    ['run', 'a_file'],
  ),
  (
    'sample_seed_too_large',
    SAMPLE,
    ['--workdir={run}', '--seed=4294967296', '--out={tmp}/x.png'],
    2,
    ['--seed', '4294967295'],
    ['run'],
  ),
  (
    'sample_missing_step',
    SAMPLE,
    ['--workdir={run}', '--step=7', '--out={tmp}/x.png'],
    2,
    ['no checkpoint for step 7', 'available steps: [20, 40]'],
    ['run'],
  ),
  (
    'sample_all_checkpoints_rotten',
    SAMPLE,
    ['--workdir={run_bitrot_all}', '--out={tmp}/x.png'],
    2,
    ['no readable checkpoint', 'sha256'],
    ['run_bitrot_all'],
  ),
  (
    'sample_workdir_not_utf8',
    SAMPLE,
    ['--workdir={tmp}/\udcffrun', '--out={tmp}/x.png'],
    2,
    ['is not valid UTF-8 (byte 0xff)'],
    [],
  ),
  (
    'sample_out_only_blanks',
    SAMPLE,
    ['--workdir={run}', '--out=  '],
    2,
    ['--out is only'],
    ['run'],
  ),
  # ------------------------------------------------------------- experiments.evaluate
  (
    'evaluate_nothing_to_evaluate',
    EVALUATE,
    ['--out_dir={tmp}/e'],
    2,
    ['pass exactly one of --workdir'],
    [],
  ),
  (
    'evaluate_both_sources',
    EVALUATE,
    ['--workdir={run}', '--samples={npy_nan}', '--out_dir={tmp}/e'],
    2,
    ['pass exactly one of --workdir'],
    ['run', 'npy_nan'],
  ),
  (
    'evaluate_samples_without_dataset',
    EVALUATE,
    ['--samples={npy_nan}', '--out_dir={tmp}/e'],
    2,
    ['--samples needs --dataset'],
    ['npy_nan'],
  ),
  (
    'evaluate_empty_samples',
    EVALUATE,
    ['--samples=', '--dataset=mnist_5k', '--out_dir={tmp}/e'],
    2,
    ['--samples is empty'],
    [],
  ),
  (
    'evaluate_empty_out_dir',
    EVALUATE,
    ['--samples={npy_nan}', '--dataset=mnist_5k', '--out_dir='],
    2,
    ['--out_dir is empty'],
    ['npy_nan'],
  ),
  (
    'evaluate_foreign_out_dir',
    EVALUATE,
    ['--samples={npy_nan}', '--dataset=mnist_5k', '--out_dir={foreign}'],
    2,
    ['--out_dir=', 'was not written by gan_jax'],
    ['foreign', 'npy_nan'],
  ),
  (
    'evaluate_report_exists',
    EVALUATE,
    ['--samples={npy_nan}', '--dataset=mnist_5k', '--out_dir={eval_dir}'],
    2,
    ['already holds eval.json', 'pass --overwrite'],
    ['eval_dir', 'npy_nan'],
  ),
  (
    'evaluate_out_dir_is_a_file',
    EVALUATE,
    ['--samples={npy_nan}', '--dataset=mnist_5k', '--out_dir={a_file}'],
    2,
    ['is not a directory'],
    ['a_file', 'npy_nan'],
  ),
  (
    'evaluate_missing_samples',
    EVALUATE,
    ['--samples={tmp}/nope.npy', '--dataset=mnist_5k', '--out_dir={tmp}/e'],
    2,
    ['does not exist'],
    [],
  ),
  (
    'evaluate_samples_is_a_directory',
    EVALUATE,
    ['--samples={foreign}', '--dataset=mnist_5k', '--out_dir={tmp}/e'],
    2,
    ['is a directory'],
    ['foreign'],
  ),
  (
    'evaluate_header_claims_too_much',
    EVALUATE,
    ['--samples={npy_huge_header}', '--dataset=mnist_5k', '--out_dir={tmp}/e'],
    2,
    ['claims shape (1000000000000, 784)', 'truncated'],
    ['npy_huge_header'],
  ),
  (
    'evaluate_truncated_npy',
    EVALUATE,
    ['--samples={npy_truncated}', '--dataset=mnist_5k', '--out_dir={tmp}/e'],
    2,
    ['claims shape (100, 784)', 'truncated'],
    ['npy_truncated'],
  ),
  (
    'evaluate_pickled_npy',
    EVALUATE,
    ['--samples={npy_object}', '--dataset=mnist_5k', '--out_dir={tmp}/e'],
    2,
    ['is not a readable .npy array'],
    ['npy_object'],
  ),
  (
    'evaluate_npz',
    EVALUATE,
    ['--samples={npz}', '--dataset=mnist_5k', '--out_dir={tmp}/e'],
    2,
    ['.npz archive'],
    ['npz'],
  ),
  (
    'evaluate_text_file',
    EVALUATE,
    ['--samples={npy_text}', '--dataset=mnist_5k', '--out_dir={tmp}/e'],
    2,
    ['is not a readable .npy array'],
    ['npy_text'],
  ),
  (
    'evaluate_wrong_shape',
    EVALUATE,
    ['--samples={npy_wrong_shape}', '--dataset=mnist_5k', '--out_dir={tmp}/e'],
    2,
    ['shape (20, 32, 32, 3)'],
    ['npy_wrong_shape'],
  ),
  (
    'evaluate_uint8_samples',
    EVALUATE,
    ['--samples={npy_uint8}', '--dataset=mnist_5k', '--out_dir={tmp}/e'],
    2,
    ['dtype uint8'],
    ['npy_uint8'],
  ),
  (
    'evaluate_nan_samples',
    EVALUATE,
    ['--samples={npy_nan}', '--dataset=mnist_5k', '--out_dir={tmp}/e'],
    2,
    ['NaN/inf values'],
    ['npy_nan'],
  ),
  (
    'evaluate_seed_too_large',
    EVALUATE,
    ['--workdir={run}', '--seed=4294967296'],
    2,
    ['--seed', '4294967295'],
    ['run'],
  ),
  (
    'evaluate_huge_num_samples',
    EVALUATE,
    ['--workdir={run}', '--num_samples=1000000000000', '--out_dir={tmp}/e'],
    2,
    ['--num_samples=1000000000000 needs about', 'more than the'],
    ['run'],
  ),
  (
    'evaluate_samples_only_blanks',
    EVALUATE,
    ['--samples= ', '--dataset=mnist_5k', '--out_dir={tmp}/e'],
    2,
    ['--samples is only blanks'],
    [],
  ),
  (
    'evaluate_out_dir_with_escape',
    EVALUATE,
    ['--samples={npy_nan}', '--dataset=mnist_5k', '--out_dir={tmp}/\x1b]0;title\x07e'],
    2,
    ['--out_dir=', "control character '\\x1b'"],
    ['npy_nan'],
  ),
  (
    'evaluate_samples_with_step',
    EVALUATE,
    ['--samples={npy_nan}', '--dataset=mnist_5k', '--out_dir={tmp}/e', '--step=20'],
    2,
    ['--step does not apply to --samples', 'drop them'],
    ['npy_nan'],
  ),
  (
    'evaluate_samples_with_num_samples',
    EVALUATE,
    [
      '--samples={npy_nan}',
      '--dataset=mnist_5k',
      '--out_dir={tmp}/e',
      '--step=20',
      '--num_samples=500',
    ],
    2,
    ['--step and --num_samples do not apply to --samples'],
    ['npy_nan'],
  ),
  # ---------------------------------------------------------------- experiments.sweep
  ('sweep_missing_flag', SWEEP, [*SWEEP_BASE], 2, ['--sweep', 'must have a value'], []),
  ('sweep_file_missing', SWEEP, [*SWEEP_BASE, '--sweep={tmp}/nope.py'], 2, ['is not a file'], []),
  (
    'sweep_syntax_error',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_syntax}'],
    2,
    ['sweep_syntax.py:2', 'SyntaxError'],
    ['sweep_syntax'],
  ),
  (
    'sweep_failing_import',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_import}'],
    2,
    ['sweep_import.py:3', 'ModuleNotFoundError', 'no_such_module_gan_jax'],
    ['sweep_import'],
  ),
  (
    'sweep_raising_sweep',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_raises}'],
    2,
    ['sweep() of', 'sweep_raises.py:3', 'RuntimeError: boom'],
    ['sweep_raises'],
  ),
  (
    'sweep_exits',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_exits}'],
    2,
    ['sweep_exits.py:4', 'it called exit(3)'],
    ['sweep_exits'],
  ),
  (
    'sweep_no_function',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_nodef}'],
    2,
    ['must define sweep()'],
    ['sweep_nodef'],
  ),
  (
    'sweep_not_a_list',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_notlist}'],
    2,
    ['must return a non-empty list of dicts'],
    ['sweep_notlist'],
  ),
  (
    'sweep_absolute_name',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_abs}'],
    2,
    ["name '/tmp/gan_jax_evil' is not a plain directory name"],
    ['sweep_abs'],
  ),
  (
    'sweep_dotdot_name',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_dotdot}'],
    2,
    ["name '../evil' is not a plain directory name"],
    ['sweep_dotdot'],
  ),
  (
    'sweep_separator_name',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_sep}'],
    2,
    ["name 'a/b' is not a plain directory name"],
    ['sweep_sep'],
  ),
  (
    'sweep_name_of_a_sweep_file',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_filename}'],
    2,
    ["name 'results.md' is not a plain directory name"],
    ['sweep_filename'],
  ),
  (
    'sweep_colliding_names',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_collide}'],
    2,
    ["two sweep members are both named 'x'"],
    ['sweep_collide'],
  ),
  (
    'sweep_names_differ_in_case_only',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_case}'],
    2,
    ['two sweep members are both named'],
    ['sweep_case'],
  ),
  (
    'sweep_identical_members',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_identical}'],
    2,
    ["'a' and 'b' are the same config apart from their names"],
    ['sweep_identical'],
  ),
  (
    'sweep_member_sets_flagfile',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_flagfile}'],
    2,
    ["sets 'flagfile', which is not a config field"],
    ['sweep_flagfile'],
  ),
  (
    'sweep_member_sets_workdir',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_workdir_key}'],
    2,
    ["sets 'workdir', which is not a config field"],
    ['sweep_workdir_key'],
  ),
  (
    'sweep_member_bad_value',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_bad_value}'],
    2,
    ['sweep member 0', '--learning_rate must be positive'],
    ['sweep_bad_value'],
  ),
  (
    'sweep_member_nan',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_nan}'],
    2,
    ['sweep member 1', 'not a finite number'],
    ['sweep_nan'],
  ),
  (
    'sweep_member_escapes_by_symlink',
    SWEEP,
    [TEST, '--workdir={sweep_escape}', '--sweep={sweep_ok}'],
    2,
    ["sweep member 'seed_1' would train in", 'outside --workdir'],
    ['sweep_escape', 'sweep_ok'],
  ),
  (
    'sweep_foreign_workdir',
    SWEEP,
    [TEST, '--workdir={foreign}', '--sweep={sweep_ok}', '--overwrite'],
    2,
    ['was not written by gan_jax'],
    ['foreign', 'sweep_ok'],
  ),
  (
    'sweep_empty_workdir',
    SWEEP,
    [TEST, '--workdir=', '--sweep={sweep_ok}'],
    2,
    ['--workdir is empty'],
    ['sweep_ok'],
  ),
  (
    'sweep_workdir_is_a_run',
    SWEEP,
    [TEST, '--workdir={run}', '--sweep={sweep_ok}'],
    2,
    ['holds a gan_jax run, not a sweep'],
    ['run', 'sweep_ok'],
  ),
  (
    'sweep_member_dir_foreign',
    SWEEP,
    [TEST, '--workdir={sweep_foreign_member}', '--sweep={sweep_ok}', '--overwrite'],
    2,
    ['seed_0 is not empty', 'was not written by gan_jax'],
    ['sweep_foreign_member'],
  ),
  (
    'sweep_unknown_rank_by',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_ok}', '--rank_by=bogus'],
    2,
    ['--rank_by=bogus has no better direction'],
    ['sweep_ok'],
  ),
  (
    'sweep_unknown_group',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_ok}', '--group=nope'],
    2,
    ['--group=nope is not a group of this sweep'],
    ['sweep_ok'],
  ),
  (
    'sweep_binary_flagfile',
    SWEEP,
    ['--flagfile={binary_flags}', '--workdir={tmp}/sweep', '--sweep={sweep_ok}'],
    2,
    ['is not UTF-8 text'],
    ['binary_flags', 'sweep_ok'],
  ),
  (
    'sweep_member_name_with_newline',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_name_newline}'],
    2,
    ['sweep member 0', "holds the control character '\\n'", 'rename it'],
    ['sweep_name_newline'],
  ),
  (
    'sweep_member_name_with_escape',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_name_escape}'],
    2,
    ['sweep member 1', "holds the control character '\\x1b'"],
    ['sweep_name_escape'],
  ),
  (
    'sweep_member_value_with_nul',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_value_nul}'],
    2,
    ['sweep member 0 sets data_dir=', "control character '\\x00'"],
    ['sweep_value_nul'],
  ),
  (
    'sweep_member_number_with_newline',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_value_newline}'],
    2,
    ['sweep member 0 sets seed=', "control character '\\n'"],
    ['sweep_value_newline'],
  ),
  (
    'sweep_base_flag_with_newline',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_ok}', '--manual_dir=/data\n--seed=9'],
    2,
    ['--manual_dir=', "control character '\\n'"],
    ['sweep_ok'],
  ),
  (
    'sweep_python_with_newline',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_ok}', '--python=python\nrm -rf x', '--launch=none'],
    2,
    ['--python=', "control character '\\n'"],
    ['sweep_ok'],
  ),
  (
    'sweep_file_not_utf8_name',
    SWEEP,
    [*SWEEP_BASE, '--sweep={tmp}/\udcfe.py'],
    2,
    ['--sweep=', 'is not valid UTF-8 (byte 0xfe)'],
    [],
  ),
  (
    'sweep_member_overflows_float32',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_float32}'],
    2,
    ['sweep member 1', '--learning_rate=1e+300 overflows float32'],
    ['sweep_float32'],
  ),
  (
    'sweep_huge_eval_num_samples',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_ok}', '--eval_num_samples=1000000000'],
    2,
    ['--eval_num_samples=1000000000 needs about', 'more than the'],
    ['sweep_ok'],
  ),
  (
    'sweep_file_with_nul_bytes',
    SWEEP,
    [*SWEEP_BASE, '--sweep={sweep_nul}'],
    2,
    ['sweep_nul.py:2', 'null bytes', 'fix the file'],
    ['sweep_nul'],
  ),
  # ---------------------------------------------------------------- experiments.toy1d
  ('toy1d_empty_workdir', TOY1D, ['--workdir='], 2, ['--workdir is empty'], []),
  (
    'toy1d_foreign_workdir',
    TOY1D,
    ['--workdir={foreign}'],
    2,
    ['is not empty', 'was not written by gan_jax'],
    ['foreign'],
  ),
  ('toy1d_workdir_is_a_file', TOY1D, ['--workdir={a_file}'], 2, ['is not a directory'], ['a_file']),
  (
    'toy1d_workdir_is_a_run',
    TOY1D,
    ['--workdir={run}'],
    2,
    ['holds a gan_jax run, not a toy1d'],
    ['run'],
  ),
  (
    'toy1d_nan_mode_start',
    TOY1D,
    ['--workdir={tmp}/t', '--mode_start=nan'],
    2,
    ['--mode_start=nan is not a finite number'],
    [],
  ),
  (
    'toy1d_inf_mode_start',
    TOY1D,
    ['--workdir={tmp}/t', '--mode_start=-inf'],
    2,
    ['--mode_start=-inf is not a finite number'],
    [],
  ),
  (
    'toy1d_steps_not_a_multiple',
    TOY1D,
    ['--workdir={tmp}/t', '--num_steps=70'],
    2,
    ['--num_steps=70 must be a multiple of 50'],
    [],
  ),
  ('toy1d_negative_seed', TOY1D, ['--workdir={tmp}/t', '--seed=-1'], 2, ['--seed'], []),
  (
    'toy1d_empty_g_hidden',
    TOY1D,
    ['--workdir={tmp}/t', '--g_hidden='],
    2,
    ['--g_hidden must hold positive widths'],
    [],
  ),
  (
    'toy1d_reversed_x_range',
    TOY1D,
    ['--workdir={tmp}/t', '--x_range=5,-5'],
    2,
    ['--x_range must be two numbers lo,hi with lo < hi'],
    [],
  ),
  (
    'toy1d_binary_flagfile',
    TOY1D,
    ['--flagfile={binary_flags}', '--workdir={tmp}/t'],
    2,
    ['is not UTF-8 text'],
    ['binary_flags'],
  ),
  (
    'toy1d_learning_rate_overflows_float32',
    TOY1D,
    ['--workdir={tmp}/t', '--g_learning_rate=1e308'],
    2,
    ['--g_learning_rate=1e+308 overflows float32'],
    [],
  ),
  (
    'toy1d_workdir_not_utf8',
    TOY1D,
    ['--workdir={tmp}/t\udcff'],
    2,
    ['is not valid UTF-8 (byte 0xff)'],
    [],
  ),
  (
    'toy1d_huge_batch_size',
    TOY1D,
    ['--workdir={tmp}/t', '--batch_size=1000000000'],
    2,
    ['the 1-D game of', '--batch_size=1000000000', 'needs about', 'use smaller sizes'],
    [],
  ),
  (
    'toy1d_huge_num_x',
    TOY1D,
    ['--workdir={tmp}/t', '--num_x=1000000000'],
    2,
    ['--num_x=1000000000', 'needs about'],
    [],
  ),
  (
    'toy1d_huge_widths',
    TOY1D,
    ['--workdir={tmp}/t', '--g_hidden=1000000,1000000'],
    2,
    ['--g_hidden=1000000,1000000', 'needs about'],
    [],
  ),
  (
    'toy1d_d_steps_beyond_int32',
    TOY1D,
    ['--workdir={tmp}/t', '--d_steps=1000000000000000000'],
    2,
    ['--d_steps=1000000000000000000 is beyond 2147483647'],
    [],
  ),
  # ------------------------------------------ experiments.reproduce: the published results
  (
    'reproduce_report_without_runs',
    REPRODUCE,
    ['--report_only', '--runs_dir={tmp}/typo', PUBLISHED],
    2,
    ['/typo does not exist: there are no runs to report', 'run `make reproduce` first'],
    ['published'],
  ),
  (
    'reproduce_runs_dir_is_a_file',
    REPRODUCE,
    ['--report_only', '--runs_dir={a_file}', PUBLISHED],
    2,
    ['a_file is not a directory: there are no runs to report'],
    ['a_file', 'published'],
  ),
  (
    'reproduce_runs_dir_without_a_record',
    REPRODUCE,
    ['--report_only', '--runs_dir={foreign}', PUBLISHED],
    2,
    ['holds no reproduction (no reproduce.json)'],
    ['foreign', 'published'],
  ),
  (
    'reproduce_empty_runs_dir',
    REPRODUCE,
    ['--report_only', '--runs_dir=', PUBLISHED],
    2,
    ['--runs_dir is empty'],
    ['published'],
  ),
  (
    'reproduce_runs_of_another_budget',
    REPRODUCE,
    ['--report_only', '--runs_dir={reproduction_partial}', PUBLISHED],
    2,
    ["holds a reproduction with budget 'quick', not 'standard'", '--budget=quick'],
    ['reproduction_partial', 'published'],
  ),
  (
    'reproduce_nothing_finished',
    REPRODUCE,
    ['--report_only', '--budget=quick', '--runs_dir={reproduction_empty}', PUBLISHED],
    2,
    ['holds no finished result yet, so there is nothing to report'],
    ['reproduction_empty', 'published'],
  ),
  (
    'reproduce_fewer_results',
    REPRODUCE,
    ['--report_only', '--budget=quick', '--runs_dir={reproduction_partial}', PUBLISHED],
    2,
    [
      'RESULTS.md holds results these runs lack (test/table1/seed_1, test/table1/seed_2)',
      '--overwrite',
    ],
    ['reproduction_partial', 'published'],
  ),
  (
    'reproduce_results_not_made_by_the_report',
    REPRODUCE,
    [
      '--report_only',
      '--budget=quick',
      '--runs_dir={reproduction_partial}',
      '--results={foreign}/notes.txt',
      '--overwrite',
    ],
    2,
    ['notes.txt exists and was not written by experiments.reproduce', '--overwrite included'],
    ['reproduction_partial', 'foreign'],
  ),
  (
    'reproduce_results_is_a_directory',
    REPRODUCE,
    ['--budget=quick', '--runs_dir={tmp}/runs', '--results={foreign}'],
    2,
    ['foreign is a directory; pass a file path'],
    ['foreign'],
  ),
  (
    'reproduce_figures_folder_not_the_reports',
    REPRODUCE,
    [
      '--report_only',
      '--budget=quick',
      '--runs_dir={reproduction_partial}',
      '--results={foreign_figures}/RESULTS.md',
    ],
    2,
    ['holds files the report did not write (holiday.png)'],
    ['reproduction_partial', 'foreign_figures'],
  ),
]
# Every row runs with 4 forced CPU devices (as the rest of the suite).
DEVICES = 4


# -------------------------------------------------------------------------------- fixtures


def _write(path: str, data) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'wb' if isinstance(data, bytes) else 'w') as f:
    f.write(data)


def _mnist_idx(path: str, num_train: int, label: int | None = None) -> None:
  """MNIST's four idx files in `path`: num_train training and 10 test images of random pixels,
  their labels random, or all `label`."""
  rng = np.random.default_rng(0)
  os.makedirs(path)
  for prefix, n in (('train', num_train), ('t10k', 10)):
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    idx.write_idx(os.path.join(path, f'{prefix}-images-idx3-ubyte'), images)
    labels = rng.integers(0, 10, (n,), dtype=np.uint8) if label is None else np.full(n, label)
    idx.write_idx(os.path.join(path, f'{prefix}-labels-idx1-ubyte'), labels.astype(np.uint8))


def _bad_idx(path: str, corrupt: str) -> None:
  _mnist_idx(path, 60)
  images = os.path.join(path, 'train-images-idx3-ubyte')
  raw = bytearray(open(images, 'rb').read())
  if corrupt == 'magic':
    _write(images, bytes(raw[:2] + b'\x08\x04' + raw[4:]))
  elif corrupt == 'truncated':
    _write(images, bytes(raw[: len(raw) // 2]))


def _unlabelled_idx(path: str, _) -> None:
  """The four idx files as a user without labels might fill them: 50,010 training images (the
  builder keeps 50,000 for train), every label 0."""
  _mnist_idx(path, 50_010, label=0)


def _bomb_idx(path: str, _) -> None:
  """The four idx files, the training images a gzip bomb: 100 kB whose header declares 784 MB
  (a real bomb would inflate to them; this one holds only zeros after the header)."""
  _bad_idx(path, 'none')
  images = os.path.join(path, 'train-images-idx3-ubyte')
  os.remove(images)
  header = bytes([0, 0, 8, 3]) + b''.join(d.to_bytes(4, 'big') for d in (10**6, 28, 28))
  _write(images + '.gz', gzip.compress(header + bytes(10**8), mtime=0))


_CGAN_RUN = {}


def _cgan_run_copy(path: str, trained: str) -> None:
  """A trained conditional run (the test config's nets conditioned by concatenation), trained
  once beside `trained` and copied."""
  if trained not in _CGAN_RUN:
    from gan_jax.loop import lone
    from tests.helpers import make_test_config

    source = os.path.join(os.path.dirname(trained), 'cgan_trained')
    config = make_test_config('--model=mnist_mlp_cgan', '--num_steps=20')
    lone.train_and_evaluate(config, source)
    _CGAN_RUN[trained] = source
  shutil.copytree(_CGAN_RUN[trained], path)


def _run_copy(change=None):
  def build(path, trained):
    shutil.copytree(trained, path)
    if change:
      change(path)

  return build


def _replace_with_file(name):
  def change(path):
    target = os.path.join(path, name)
    if os.path.isdir(target):
      shutil.rmtree(target)
    elif os.path.exists(target):
      os.remove(target)
    _write(target, 'not what gan_jax wrote here\n')

  return change


def _rot_every_checkpoint(path):
  for step in os.listdir(os.path.join(path, 'checkpoints')):
    flip_bytes(largest_array_file(os.path.join(path, 'checkpoints', step)))


def largest_array_file(step_dir: str) -> str:
  directory = os.path.join(step_dir, 'state', 'ocdbt.process_0', 'd')
  files = [os.path.join(directory, n) for n in os.listdir(directory)]
  return max(files, key=os.path.getsize)


def flip_bytes(path: str, count: int = 3) -> None:
  """Bit rot: flips one bit in each of `count` bytes spread over the middle of the file."""
  raw = bytearray(open(path, 'rb').read())
  for i in range(count):
    raw[len(raw) // 2 + i * 997] ^= 0x10
  _write(path, bytes(raw))


def _lock_is_a_directory(path):
  lock = os.path.join(path, workdir_lib.LOCK_FILE)
  if os.path.exists(lock):
    os.remove(lock)
  os.makedirs(lock)


_HOLD = []  # locks a fixture holds for the whole session ("another run")


def _busy(path, trained):
  shutil.copytree(trained, path)
  lock = open(os.path.join(path, workdir_lib.LOCK_FILE), 'a')
  fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
  _HOLD.append(lock)


def _sweep_dir(path, extra=None):
  os.makedirs(path)
  _write(os.path.join(path, workdir_lib.MARKER_FILE), 'sweep\n')
  if extra:
    extra(path)


def _sweep_file(members: str, prefix: str = ''):
  return lambda path, _: _write(path, f'{prefix}def sweep():\n  return {members}\n')


def _npy(array, **kwargs):
  return lambda path, _: np.save(path, array, **kwargs)


def _huge_header(path, _):
  with open(path, 'wb') as f:
    np.lib.format.write_array_header_1_0(
      f, {'descr': '<f4', 'fortran_order': False, 'shape': (10**12, 784)}
    )
    f.write(b'\0' * 64)


def _truncated_npy(path, _):
  np.save(path, np.zeros((100, 784), np.float32))
  with open(path, 'r+b') as f:
    f.truncate(os.path.getsize(path) // 2)


_ROT = np.full((20, 784), np.nan, np.float32)


def _published(path, _):
  """A results page holding Table 1's three seeds, and its marked figures folder."""
  held = ' '.join(f'test/table1/seed_{s}' for s in range(3))
  _write(
    os.path.join(path, 'RESULTS.md'),
    f'<!-- made by experiments.reproduce; results: {held} -->\n# Results\n\n225 nats\n',
  )
  _write(os.path.join(path, 'results', workdir_lib.MARKER_FILE), 'report\n')
  _write(os.path.join(path, 'results', 'mnist_curves.png'), b'\x89PNG curves')


def _reproduction(seeds: tuple[int, ...]):
  """A quick-budget reproduction record whose Table 1 seeds `seeds` were chosen and tested."""

  def build(path, _):
    steps = {}
    for seed in seeds:
      name = f'table1/seed_{seed}'
      steps[f'test/{name}'] = {'status': 'done', 'chosen_step': 200, 'validation_parzen_ll': 50.0}
      parzen = {'ll': 60.0, 'se': 2.0, 'sigma': 0.2, 'sigmas': [0.1, 1.0]}
      parzen.update(num_centres=2000, num_validation=1000, num_test=10000)
      metrics = {'frechet_distance': 30.0, 'precision': 0.5, 'recall': 0.4}
      result = {'parzen': parzen, **metrics}
      result['real_data'] = {'parzen': {'ll': 240.0, 'se': 2.0}, **metrics, 'source': '2000'}
      result['memorisation'] = {'samples_median_l2': 5.0, 'test_median_l2': 4.5}
      _write(os.path.join(path, name, 'test_eval', 'eval.json'), json.dumps(result))
      _write(os.path.join(path, name, 'metrics.jsonl'), '{"step": 200, "steps_per_s": 10.0}\n')
    _write(os.path.join(path, 'reproduce.json'), json.dumps({'budget': 'quick', 'steps': steps}))

  return build


# name -> (file name in the sandbox, builder(path, trained run)).
FIXTURES = {
  'run': ('run', _run_copy()),
  'cgan_run': ('cgan_run', _cgan_run_copy),
  'busy_run': ('busy_run', _busy),
  'run_lock_dir': ('run_lock_dir', _run_copy(_lock_is_a_directory)),
  'run_checkpoints_file': ('run_checkpoints_file', _run_copy(_replace_with_file('checkpoints'))),
  'run_tensorboard_file': ('run_tensorboard_file', _run_copy(_replace_with_file('tensorboard'))),
  'run_bad_metrics': (
    'run_bad_metrics',
    _run_copy(
      lambda p: _write(os.path.join(p, 'metrics.jsonl'), b'{"step": 10}\n\xff\xfe\x00garbage\n')
    ),
  ),
  'run_bitrot_all': ('run_bitrot_all', _run_copy(_rot_every_checkpoint)),
  'foreign': (
    'foreign',
    lambda p, _: (
      _write(os.path.join(p, 'notes.txt'), 'my thesis\n'),
      _write(os.path.join(p, 'sub', 'data.bin'), b'\1\2\3'),
    ),
  ),
  'foreign_escape': (
    'foreign_escape',
    lambda p, _: _write(os.path.join(p, '\x1b[31mred\x1b[0m.txt'), 'a name that paints\n'),
  ),
  'a_file': ('a_file', lambda p, _: _write(p, 'a file, not a directory\n')),
  'existing_png': ('grid.png', lambda p, _: _write(p, b'\x89PNG not really')),
  'dir_png': ('dir.png', lambda p, _: os.makedirs(p)),
  'eval_dir': (
    'eval_dir',
    lambda p, _: (
      _write(os.path.join(p, workdir_lib.MARKER_FILE), 'eval\n'),
      _write(os.path.join(p, 'eval.json'), '{}\n'),
      _write(os.path.join(p, 'eval.md'), '#\n'),
    ),
  ),
  'sweep_dir': ('sweep_dir', lambda p, _: _sweep_dir(p)),
  'sweep_escape': (
    'sweep_escape',
    lambda p, _: _sweep_dir(
      p,
      lambda d: (
        os.makedirs(os.path.join(os.path.dirname(d), 'outside')),
        os.symlink(os.path.join(os.path.dirname(d), 'outside'), os.path.join(d, 'seed_1')),
      ),
    ),
  ),
  'sweep_foreign_member': (
    'sweep_foreign_member',
    lambda p, _: _sweep_dir(
      p, lambda d: _write(os.path.join(d, 'seed_0', 'mine.txt'), 'keep me\n')
    ),
  ),
  'magic_idx': ('magic_idx', lambda p, _: _bad_idx(p, 'magic')),
  'truncated_idx': ('truncated_idx', lambda p, _: _bad_idx(p, 'truncated')),
  'bomb_idx': ('bomb_idx', _bomb_idx),
  'unlabelled_idx': ('unlabelled_idx', _unlabelled_idx),
  'binary_flags': ('binary.flags', lambda p, _: _write(p, b'--seed=1\n\xff\xfe\x00\x81\n')),
  'huge_flags': ('huge.flags', lambda p, _: _write(p, '#' * (2 << 20))),
  'nul_flags': ('nul.flags', lambda p, _: _write(p, '--seed=1\n\0\n')),
  'circular_flags': ('circular.flags', lambda p, _: _write(p, f'--flagfile={p}\n')),
  'nested_flags': (
    'nested.flags',
    lambda p, _: _write(p, f'--flagfile={os.path.join(os.path.dirname(p), "binary.flags")}\n'),
  ),
  'sweep_syntax': ('sweep_syntax.py', lambda p, _: _write(p, 'def sweep():\n  return [{\n')),
  'sweep_import': (
    'sweep_import.py',
    lambda p, _: _write(p, '"""A sweep."""\n\nimport no_such_module_gan_jax\n'),
  ),
  'sweep_raises': (
    'sweep_raises.py',
    lambda p, _: _write(p, 'def sweep():\n  x = 1\n  raise RuntimeError("boom")\n'),
  ),
  'sweep_exits': (
    'sweep_exits.py',
    lambda p, _: _write(p, 'import sys\n\ndef sweep():\n  sys.exit(3)\n'),
  ),
  'sweep_nodef': ('sweep_nodef.py', lambda p, _: _write(p, 'members = []\n')),
  'sweep_notlist': ('sweep_notlist.py', _sweep_file('5')),
  'sweep_abs': ('sweep_abs.py', _sweep_file("[{'name': '/tmp/gan_jax_evil', 'seed': 1}]")),
  'sweep_dotdot': ('sweep_dotdot.py', _sweep_file("[{'name': '../evil', 'seed': 1}]")),
  'sweep_sep': ('sweep_sep.py', _sweep_file("[{'name': 'a/b', 'seed': 1}]")),
  'sweep_filename': ('sweep_filename.py', _sweep_file("[{'name': 'results.md', 'seed': 1}]")),
  'sweep_collide': (
    'sweep_collide.py',
    _sweep_file("[{'name': 'x', 'seed': 1}, {'name': 'x', 'seed': 2}]"),
  ),
  'sweep_case': (
    'sweep_case.py',
    _sweep_file("[{'name': 'Run', 'seed': 1}, {'name': 'run', 'seed': 2}]"),
  ),
  'sweep_identical': (
    'sweep_identical.py',
    _sweep_file("[{'name': 'a', 'seed': 1}, {'name': 'b', 'seed': 1}]"),
  ),
  'sweep_flagfile': ('sweep_flagfile.py', _sweep_file("[{'flagfile': '/etc/passwd'}]")),
  'sweep_workdir_key': ('sweep_workdir_key.py', _sweep_file("[{'workdir': '/'}]")),
  'sweep_bad_value': ('sweep_bad_value.py', _sweep_file("[{'learning_rate': -1.0}]")),
  'sweep_nan': ('sweep_nan.py', _sweep_file("[{'seed': 0}, {'learning_rate': float('nan')}]")),
  'sweep_ok': ('sweep_ok.py', _sweep_file("[{'seed': 0}, {'seed': 1}]")),
  'sweep_nul': (
    'sweep_nul.py',
    lambda p, _: _write(p, b'def sweep():\n  return [{"seed": 1}]\x00\n'),
  ),
  'sweep_name_newline': (
    'sweep_name_newline.py',
    _sweep_file("[{'name': 'a\\nb', 'seed': 1}, {'seed': 2}]"),
  ),
  'sweep_name_escape': (
    'sweep_name_escape.py',
    _sweep_file("[{'seed': 1}, {'name': '\\x1b[2Jx', 'seed': 2}]"),
  ),
  'sweep_value_nul': ('sweep_value_nul.py', _sweep_file("[{'data_dir': 'x\\x00y'}]")),
  'sweep_value_newline': ('sweep_value_newline.py', _sweep_file("[{'seed': '1\\n'}]")),
  'sweep_float32': (
    'sweep_float32.py',
    _sweep_file("[{'seed': 0}, {'learning_rate': 1e300}]"),
  ),
  'npy_huge_header': ('huge_header.npy', _huge_header),
  'npy_truncated': ('truncated.npy', _truncated_npy),
  'npy_object': ('object.npy', _npy(np.array([{'a': 1}] * 20, dtype=object), allow_pickle=True)),
  'npz': ('archive.npz', lambda p, _: np.savez(p, x=np.zeros((20, 784), np.float32))),
  'npy_text': ('text.npy', lambda p, _: _write(p, 'just text\n')),
  'npy_wrong_shape': ('wrong_shape.npy', _npy(np.zeros((20, 32, 32, 3), np.float32))),
  'npy_uint8': ('uint8.npy', _npy(np.zeros((20, 784), np.uint8))),
  'npy_nan': ('nan.npy', _npy(_ROT)),
  'published': ('published', _published),
  'reproduction_partial': ('reproduction_partial', _reproduction((0,))),
  'reproduction_empty': ('reproduction_empty', _reproduction(())),
  'foreign_figures': (
    'foreign_figures',
    lambda p, _: _write(os.path.join(p, 'results', 'holiday.png'), b'\x89PNG mine'),
  ),
}
