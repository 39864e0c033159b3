"""The training loop end to end: outputs, exact resume, checkpoints, sampling."""

import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from gan_jax.base.errors import CheckpointError
from gan_jax.loop import lone
from gan_jax.runtime import checkpoint, sampling, writers
from tests.helpers import make_test_config, run_module


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
  """40 steps straight through (test.flags: log every 10, checkpoint and samples every 20)."""
  workdir = str(tmp_path_factory.mktemp('straight'))
  config = make_test_config()
  return config, workdir, lone.train_and_evaluate(config, workdir)


def test_outputs_of_a_run(straight):
  config, workdir, state = straight
  assert int(state.step) == 40
  rows = writers.read_metrics(workdir)
  assert [r['step'] for r in rows] == [10, 20, 30, 40]
  for row in rows:
    assert {'d_loss', 'g_loss', 'd_real', 'd_fake', 'steps_per_s'} <= set(row)
    assert 0 < row['d_real'] < 1 and 0 < row['d_fake'] < 1
  assert sorted(os.listdir(os.path.join(workdir, 'samples'))) == [
    'step_00000020.png',
    'step_00000040.png',
  ]
  grid = np.asarray(Image.open(os.path.join(workdir, 'samples', 'step_00000040.png')))
  assert grid.shape == (4 * 29 + 1, 4 * 29 + 1)  # 16 samples of 28x28, 1-pixel gaps
  assert checkpoint.Checkpointer(workdir).all_steps() == [20, 40]
  with open(os.path.join(workdir, 'config.json')) as f:
    assert json.load(f) == config.to_dict()
  assert any(
    name.startswith('events.out.tfevents')
    for name in os.listdir(os.path.join(workdir, 'tensorboard'))
  )


def test_stop_and_resume_is_bit_identical(straight, tmp_path):
  config, _, reference = straight
  workdir = str(tmp_path)
  lone.train_and_evaluate(config.replace(num_steps=20), workdir)  # "stopped" at 20
  resumed = lone.train_and_evaluate(config, workdir)  # resumes 20 -> 40
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(reference), jax.device_get(resumed))
  # Metrics rows of the resumed part are those of the straight run.
  assert [r['step'] for r in writers.read_metrics(workdir)] == [10, 20, 30, 40]


def test_keeps_the_last_k_checkpoints(tmp_path):
  config = make_test_config('--num_steps=60', '--checkpoint_every=10', '--keep_checkpoints=2')
  lone.train_and_evaluate(config, str(tmp_path))
  assert checkpoint.Checkpointer(str(tmp_path)).all_steps() == [50, 60]


def test_resuming_with_an_incompatible_config_names_the_field(straight):
  config, workdir, _ = straight
  with pytest.raises(CheckpointError, match=r'--noise_dim was 8, now 9.*--overwrite'):
    lone.train_and_evaluate(config.replace(noise_dim=9), workdir)


def test_restore_for_sampling_needs_no_data_and_matches_the_state(straight):
  _, workdir, state = straight
  restored = sampling.restore(workdir)
  assert restored.step == 40 and restored.image_shape == (28, 28, 1)
  jax.tree.map(
    np.testing.assert_array_equal, jax.device_get(state.g_params), jax.device_get(restored.g_params)
  )
  samples = restored.sample(7, seed=1)
  assert samples.shape == (7, 28, 28, 1) and 0 <= samples.min() and samples.max() <= 1
  np.testing.assert_array_equal(samples, restored.sample(7, seed=1))


def test_sample_cli_restores_a_four_device_checkpoint_on_one_device(straight, tmp_path):
  _, workdir, state = straight
  assert jax.device_count() == 4  # the run above trained on 4 devices
  out = str(tmp_path / 'samples.npy')
  result = run_module(
    'experiments.sample', f'--workdir={workdir}', '--num=9', f'--out={out}', '--step=20', devices=1
  )
  assert result.returncode == 0, result.stderr
  samples = np.load(out, allow_pickle=False)
  assert samples.shape == (9, 28, 28, 1) and samples.dtype == np.float32
  png = str(tmp_path / 'grid.png')
  assert (
    run_module('experiments.sample', f'--workdir={workdir}', '--num=9', f'--out={png}').returncode
    == 0
  )
  assert np.asarray(Image.open(png)).shape == (3 * 29 + 1, 3 * 29 + 1)


def test_train_cli_runs_and_resumes(tmp_path):
  args = ('--flagfile=experiments/configs/test.flags', f'--workdir={tmp_path}', '--num_steps=20')
  first = run_module('experiments.train', *args, devices=2)
  assert first.returncode == 0, first.stderr
  assert 'step 20/20' in first.stdout and 'D(G(z))' in first.stdout
  second = run_module('experiments.mnist', *args[:2], '--num_steps=30', devices=2)
  assert second.returncode == 0, second.stderr
  assert 'resumed from' in second.stdout and 'step 30/30' in second.stdout
