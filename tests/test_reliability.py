"""Stop it any time, feed it anything, lose nothing."""

import ast
import contextlib
import errno
import fcntl
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest

from gan_jax.base import files
from gan_jax.base.errors import CheckpointError, UserError, file_error
from gan_jax.loop import finite, lone
from gan_jax.runtime import checkpoint, parallel, resources, rundir, sampling, writers
from gan_jax.runtime import workdir as workdir_lib
from tests.catalogue import flip_bytes
from tests.helpers import ROOT, make_test_config, run_module, subprocess_env

TEST_FLAGS = '--flagfile=experiments/configs/test.flags'


def _env(devices: int = 1) -> dict:
  return subprocess_env(devices, PYTHONUNBUFFERED='1')


def _start(*args: str) -> subprocess.Popen:
  return subprocess.Popen(
    [sys.executable, '-m', 'experiments.train', TEST_FLAGS, *args],
    cwd=ROOT,
    env=_env(),
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )


def _wait_for_line(proc: subprocess.Popen, needle: str, count: int = 1) -> None:
  seen = 0
  for line in proc.stdout:
    if needle in line:
      seen += 1
      if seen == count:
        return
  raise AssertionError(f'{needle!r} never printed ({count}x); stderr: {proc.stderr.read()}')


def _kill_during_checkpoint_write(proc: subprocess.Popen, workdir: str) -> bool:
  """SIGKILLs `proc` as soon as orbax's temporary checkpoint directory appears."""
  pattern = os.path.join(workdir, 'checkpoints', '*.orbax-checkpoint-tmp*')
  deadline = time.monotonic() + 120
  while proc.poll() is None and time.monotonic() < deadline:
    if glob.glob(pattern):
      proc.kill()
      return True
    time.sleep(0.0005)
  return False


def _final_state(workdir: str):
  return jax.device_get(sampling.restore(workdir).state)


# ------------------------------------------------------------------------------ pre-emption


def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path):
  args = ('--num_steps=80', '--checkpoint_every=20', '--log_every=10', '--sample_every=0')
  reference = str(tmp_path / 'reference')
  done = subprocess.run(
    [sys.executable, '-m', 'experiments.train', TEST_FLAGS, *args, f'--workdir={reference}'],
    cwd=ROOT,
    env=_env(),
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert done.returncode == 0, done.stderr

  workdir = str(tmp_path / 'killed')
  rng = np.random.default_rng(0)
  kill_points = [
    ('after_log_line', int(rng.integers(1, 4))),
    ('during_checkpoint_write', None),
    ('after_seconds', rng.uniform(1, 4)),
  ]
  killed_while_writing = False
  for kind, value in kill_points:
    proc = _start(*args, f'--workdir={workdir}')
    if kind == 'after_log_line':
      _wait_for_line(proc, '] step ', value)
      proc.kill()
    elif kind == 'during_checkpoint_write':
      killed_while_writing = _kill_during_checkpoint_write(proc, workdir)
    else:
      time.sleep(value)
      proc.kill()
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
  assert killed_while_writing, 'never caught a checkpoint mid-write'

  last = subprocess.run(
    [sys.executable, '-m', 'experiments.train', TEST_FLAGS, *args, f'--workdir={workdir}'],
    cwd=ROOT,
    env=_env(),
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert last.returncode == 0, last.stderr
  jax.tree.map(np.testing.assert_array_equal, _final_state(reference), _final_state(workdir))
  assert not glob.glob(os.path.join(workdir, 'checkpoints', '*tmp*'))
  steps = [r['step'] for r in writers.read_metrics(workdir)]
  assert steps == list(range(10, 81, 10))  # no duplicated or lost rows


@pytest.mark.parametrize('sig, code', [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_write_a_final_checkpoint(tmp_path, sig, code):
  proc = _start(
    '--num_steps=1000000',
    '--checkpoint_every=100000',
    '--log_every=10',
    '--sample_every=0',
    f'--workdir={tmp_path}',
  )
  _wait_for_line(proc, '] step ', 2)
  proc.send_signal(sig)
  _, stderr = proc.communicate(timeout=120)
  assert proc.returncode == code, stderr
  message = [l for l in stderr.splitlines() if 'stopped by' in l]
  assert len(message) == 1 and signal.Signals(sig).name in message[0]
  stopped_at = int(message[0].split('at step ')[1].split(';')[0])
  assert stopped_at >= 20 and stopped_at % 10 == 0
  assert checkpoint.Checkpointer(str(tmp_path)).all_steps() == [stopped_at]
  assert sampling.restore(str(tmp_path)).step == stopped_at


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_during_the_checkpoint_write_stops_at_once_and_resume_is_exact(
  tmp_path, sig
):
  args = ('--checkpoint_every=20', '--log_every=10', '--sample_every=0')
  workdir = str(tmp_path / 'run')
  for _ in range(3):  # the write takes milliseconds: a few tries to land inside it
    shutil.rmtree(workdir, ignore_errors=True)
    proc = _start('--num_steps=1000000', *args, f'--workdir={workdir}')
    _wait_for_line(proc, '] step ', 2)
    proc.send_signal(sig)  # first: checkpoint, then stop
    caught = _signal_during_checkpoint_write(proc, workdir, sig)
    _, stderr = proc.communicate(timeout=120)
    if caught:
      break
  assert caught, 'never caught the final checkpoint mid-write'
  assert proc.returncode == 128 + sig, stderr
  assert 'Traceback' not in stderr
  errors = [l for l in stderr.splitlines() if l.strip() and not l.startswith('warning: ')]
  assert errors == [
    f'error: second {signal.Signals(sig).name} while stopping: stopped at once; '
    'a checkpoint being written is discarded, the last complete one is kept; '
    'run the same command to resume'
  ], stderr
  # Whatever is left is either orbax's temporary directory or a whole, hashed checkpoint.
  steps = checkpoint.Checkpointer(workdir, read_only=True).all_steps()
  for step in steps:
    assert sampling.restore(workdir, step).step == step
  end = max(steps, default=0) + 20
  reference = str(tmp_path / 'straight')
  for directory in (workdir, reference):  # the resume, and a straight run on the same device
    done = subprocess.run(
      [
        sys.executable,
        '-m',
        'experiments.train',
        TEST_FLAGS,
        *args,
        f'--num_steps={end}',
        f'--workdir={directory}',
      ],
      cwd=ROOT,
      env=_env(),
      capture_output=True,
      text=True,
      timeout=300,
    )
    assert done.returncode == 0, done.stderr
  assert not glob.glob(os.path.join(workdir, 'checkpoints', '*tmp*'))
  jax.tree.map(np.testing.assert_array_equal, _final_state(reference), _final_state(workdir))


def _signal_during_checkpoint_write(proc: subprocess.Popen, workdir: str, sig) -> bool:
  pattern = os.path.join(workdir, 'checkpoints', '*.orbax-checkpoint-tmp*')
  deadline = time.monotonic() + 60
  while proc.poll() is None and time.monotonic() < deadline:
    if glob.glob(pattern):
      proc.send_signal(sig)
      return True
    time.sleep(0.0005)
  return False


# ------------------------------------------------------------------------ bad checkpoints


@pytest.fixture(scope='module')
def straight_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('straight'))
  state = lone.train_and_evaluate(make_test_config(), workdir)
  return workdir, jax.device_get(state)


def _largest_array_file(step_dir: str) -> str:
  files = glob.glob(os.path.join(step_dir, 'state', 'ocdbt.process_0', 'd', '*'))
  return max(files, key=os.path.getsize)


def _truncate(step_dir):
  path = _largest_array_file(step_dir)
  with open(path, 'r+b') as f:
    f.truncate(os.path.getsize(path) // 2)


def _flip_config_bit(step_dir):
  # One bit of the saved config: '"seed": 0' becomes '"seed": 1', a valid but different config.
  path = os.path.join(step_dir, 'config', 'metadata')
  raw = bytearray(open(path, 'rb').read())
  at = raw.index(b'"seed": ') + len(b'"seed": ')
  raw[at] ^= 0x01
  open(path, 'wb').write(bytes(raw))


def _delete_integrity_then_rot(step_dir):
  # Removing the hash must not switch the check off: the checkpoint's metadata still names it.
  shutil.rmtree(os.path.join(step_dir, checkpoint.INTEGRITY_ITEM))
  flip_bytes(_largest_array_file(step_dir))


CORRUPTIONS = {
  'truncated_array_file': _truncate,
  'deleted_array': lambda d: os.remove(_largest_array_file(d)),
  'garbage_array_metadata': lambda d: open(os.path.join(d, 'state', '_METADATA'), 'w').write('{x'),
  'garbage_manifest': lambda d: open(os.path.join(d, 'state', 'manifest.ocdbt'), 'wb').write(
    b'\0' * 64
  ),
  'garbage_config_json': lambda d: open(os.path.join(d, 'config', 'metadata'), 'w').write('{x'),
  # Bit rot: orbax reads the flipped bytes back without complaint; only the saved sha256 tells.
  'bit_rot_three_bytes': lambda d: flip_bytes(_largest_array_file(d)),
  'config_bit_flip': _flip_config_bit,
  'integrity_item_deleted_and_bit_rot': _delete_integrity_then_rot,
}


@pytest.mark.parametrize('corruption', sorted(CORRUPTIONS))
def test_corrupt_checkpoint_falls_back_and_training_recovers(
  straight_run, tmp_path, corruption, capfd
):
  reference_dir, reference = straight_run
  workdir = str(tmp_path / 'run')
  shutil.copytree(reference_dir, workdir)
  bad = os.path.join(workdir, 'checkpoints', '40')
  CORRUPTIONS[corruption](bad)

  restored = sampling.restore(workdir)  # sampling skips it, deletes nothing
  assert restored.step == 20 and os.path.isdir(bad)
  warnings = [l for l in capfd.readouterr().err.splitlines() if l.startswith('warning: ')]
  assert any(bad in l and 'of step 40 is unreadable' in l for l in warnings), warnings
  if corruption in ('bit_rot_three_bytes', 'config_bit_flip'):
    assert any('sha256' in l for l in warnings), warnings
  if corruption == 'integrity_item_deleted_and_bit_rot':
    assert any('item is missing' in l for l in warnings), warnings

  state = lone.train_and_evaluate(make_test_config(), workdir)  # resumes from 20
  jax.tree.map(np.testing.assert_array_equal, reference, jax.device_get(state))
  moved = glob.glob(os.path.join(workdir, 'corrupt_checkpoints', '40-*'))
  assert len(moved) == 1  # kept aside, not deleted
  assert checkpoint.Checkpointer(workdir).all_steps() == [20, 40]


def test_bit_rot_passes_orbax_unnoticed_without_the_hash(straight_run, tmp_path):
  # Why the hash exists: the same three flipped bytes, in a checkpoint from before the hash
  # (no integrity item, and its metadata names none), restore as step 40 with different numbers.
  reference_dir, reference = straight_run
  workdir = str(tmp_path / 'run')
  shutil.copytree(reference_dir, workdir)
  step_dir = os.path.join(workdir, 'checkpoints', '40')
  flip_bytes(_largest_array_file(step_dir))
  shutil.rmtree(os.path.join(step_dir, checkpoint.INTEGRITY_ITEM))
  metadata_path = os.path.join(step_dir, checkpoint.METADATA_FILE)
  with open(metadata_path) as f:
    metadata = json.load(f)
  del metadata['item_handlers'][checkpoint.INTEGRITY_ITEM]
  with open(metadata_path, 'w') as f:
    json.dump(metadata, f)
  restored = sampling.restore(workdir)
  assert restored.step == 40
  leaves = zip(jax.tree.leaves(reference), jax.tree.leaves(jax.device_get(restored.state)))
  assert any(not np.array_equal(a, b) for a, b in leaves)


def test_each_checkpoint_records_the_hash_of_its_state(straight_run):
  workdir, reference = straight_run
  with open(os.path.join(workdir, 'checkpoints', '40', checkpoint.INTEGRITY_ITEM, 'metadata')) as f:
    saved = json.load(f)
  config = sampling.restore(workdir).config
  assert saved == {
    'state_sha256': checkpoint.state_sha256(reference),
    'config_sha256': checkpoint.config_sha256(config.to_dict()),
  }


def _truncate_every_data_file(step_dir):
  for path in glob.glob(os.path.join(step_dir, 'state', 'd', '*')):
    with open(path, 'r+b') as f:
      f.truncate(os.path.getsize(path) // 2)


@pytest.mark.parametrize('damage', ['every_data_file', 'largest_array_file'])
def test_sample_past_a_truncated_checkpoint_prints_one_warning_line(straight_run, tmp_path, damage):
  # The reads still in flight when the first one fails report into orbax's closed event loop
  # from tensorstore's threads: hundreds of "Exception ignored" tracebacks, unless caught.
  reference_dir, _ = straight_run
  workdir = str(tmp_path / 'run')
  shutil.copytree(reference_dir, workdir)
  step_dir = os.path.join(workdir, 'checkpoints', '40')
  (_truncate_every_data_file if damage == 'every_data_file' else _truncate)(step_dir)
  result = run_module('experiments.sample', f'--workdir={workdir}', f'--out={tmp_path}/x.png')
  assert result.returncode == 0, result.stderr
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith(f'warning: checkpoint {step_dir} of step 40 is unreadable')
  assert 'bound method' not in lines[0] and 'TensorStore(' not in lines[0]


def test_a_write_that_fails_without_a_file_name_is_named(tmp_path):
  # A full disk fails a write or a close, which knows no file name: the message names it.
  def full(_):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  path = str(tmp_path / 'metrics.jsonl')
  with pytest.raises(OSError) as error:
    files.atomic_write(path, full)
  assert error.value.filename == path
  assert str(file_error(error.value)).startswith(f'cannot write {path} (No space left on device)')


def test_reading_a_run_while_it_rotates_its_checkpoints_says_so(
  straight_run, tmp_path, monkeypatch, capfd
):
  reference_dir, _ = straight_run
  workdir = str(tmp_path / 'run')
  shutil.copytree(reference_dir, workdir)
  read = checkpoint.Checkpointer._read_checked
  rotate = {40}  # steps the "run" removes just as the reader opens them

  def racing(self, step):
    if step in rotate:
      shutil.rmtree(os.path.join(self.directory, str(step)))
      raise FileNotFoundError(errno.ENOENT, 'No such file or directory', self.directory)
    return read(self, step)

  monkeypatch.setattr(checkpoint.Checkpointer, '_read_checked', racing)
  assert sampling.restore(workdir).step == 20  # the next one, nothing quarantined or warned
  assert not [l for l in capfd.readouterr().err.splitlines() if l.startswith('warning: ')]
  rotate.add(20)
  with pytest.raises(CheckpointError) as error:
    sampling.restore(workdir)
  message = str(error.value)
  assert 'changed while being read' in message and 'run the same command again' in message
  assert '--workdir' not in message and '--overwrite' not in message


def test_no_readable_checkpoint_is_a_clear_error(straight_run, tmp_path):
  reference_dir, _ = straight_run
  workdir = str(tmp_path / 'run')
  shutil.copytree(reference_dir, workdir)
  for step in (20, 40):
    _truncate(os.path.join(workdir, 'checkpoints', str(step)))
  with pytest.raises(CheckpointError, match=r'no readable checkpoint .*step 40.*step 20'):
    sampling.restore(workdir)
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['20', '40']


# ------------------------------------------------------------------------------ non-finite


def _poison_after(step_to_poison: int, monkeypatch):
  """Makes the compiled steps return NaN discriminator weights once, at `step_to_poison`."""
  compile_orig = parallel.compile_train_steps
  poisoned = []

  def compile_poisoning(gan, mesh, num_steps):
    fn = compile_orig(gan, mesh, num_steps)

    def run(state, data):
      state, metrics = fn(state, data)
      if int(state.step) == step_to_poison and not poisoned:
        poisoned.append(True)
        kernel = state.d_params['output']['kernel']
        state = state.replace(
          d_params={
            **state.d_params,
            'output': {**state.d_params['output'], 'kernel': kernel * np.nan},
          }
        )
      return state, metrics

    return run

  monkeypatch.setattr(parallel, 'compile_train_steps', compile_poisoning)
  return poisoned


def test_non_finite_stops_naming_step_and_net_and_keeps_the_good_checkpoint(tmp_path, monkeypatch):
  _poison_after(30, monkeypatch)
  with pytest.raises(finite.NonFiniteError) as error:
    lone.train_and_evaluate(make_test_config(), str(tmp_path))
  assert str(error.value) == (
    "the discriminator's parameters became NaN/inf by step 30; the checkpoint of step 20 is "
    'kept: resume from it with a lower --learning_rate (now 0.002), or use '
    '--on_nonfinite=rollback'
  )
  assert checkpoint.Checkpointer(str(tmp_path)).all_steps() == [20]
  restored = sampling.restore(str(tmp_path))
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(jax.device_get(restored.state)))


def test_non_finite_before_any_checkpoint_promises_none_and_names_d_learning_rate(
  tmp_path, monkeypatch
):
  _poison_after(10, monkeypatch)
  with pytest.raises(finite.NonFiniteError) as error:
    lone.train_and_evaluate(make_test_config('--d_learning_rate=0.001'), str(tmp_path))
  assert str(error.value) == (
    "the discriminator's parameters became NaN/inf by step 10; no checkpoint was written "
    'before it: run again with a lower --d_learning_rate (now 0.001), or use a smaller '
    '--checkpoint_every with --on_nonfinite=rollback'
  )
  assert checkpoint.Checkpointer(str(tmp_path)).all_steps() == []


@pytest.mark.parametrize('flag', ['g_init_scale', 'd_init_scale'])
def test_non_finite_from_a_huge_init_scale_names_the_init_scale(tmp_path, flag):
  # Weights of 1e20 overflow float32 at the first step, whatever the learning rate.
  with pytest.raises(finite.NonFiniteError) as error:
    lone.train_and_evaluate(make_test_config(f'--{flag}=1e20'), str(tmp_path))
  assert f'--{flag}=1e+20' in str(error.value) and 'learning_rate' not in str(error.value)


def test_non_finite_rollback_continues_with_a_lower_learning_rate(tmp_path, monkeypatch):
  poisoned = _poison_after(30, monkeypatch)
  config = make_test_config('--on_nonfinite=rollback', '--rollback_lr_factor=0.5')
  state = lone.train_and_evaluate(config, str(tmp_path))
  assert poisoned and int(state.step) == 40
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(jax.device_get(state)))
  lr = float(state.d_opt_state.hyperparams['learning_rate'])
  assert lr == pytest.approx(config.learning_rate * 0.5)
  assert [r['step'] for r in writers.read_metrics(str(tmp_path))] == [10, 20, 30, 40]


def test_a_lone_run_that_goes_non_finite_is_marked_failed_until_it_trains_again(
  tmp_path, monkeypatch
):
  _poison_after(30, monkeypatch)
  with pytest.raises(finite.NonFiniteError) as error:
    lone.train_and_evaluate(make_test_config(), str(tmp_path))
  assert (tmp_path / rundir.FAILED_FILE).read_text() == str(error.value) + '\n'
  # The same command (the poison was once) resumes from the kept checkpoint and trains.
  state = lone.train_and_evaluate(make_test_config(), str(tmp_path))
  assert int(state.step) == 40 and not (tmp_path / rundir.FAILED_FILE).exists()
  assert [r['step'] for r in writers.read_metrics(str(tmp_path))] == [10, 20, 30, 40]


# ------------------------------------------------------------------ directories and input
# Every bad command line of every entry point: tests/catalogue.py, run by tests/test_catalogue.py.


@pytest.fixture(scope='module')
def trained_workdir(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('trained'))
  lone.train_and_evaluate(make_test_config('--num_steps=20'), workdir)
  return workdir


def test_overwrite_clears_only_what_a_run_wrote(trained_workdir, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(trained_workdir, workdir)
  (tmp_path / 'run' / 'my_notes.txt').write_text('mine')
  (tmp_path / 'run' / 'analysis').mkdir()
  (tmp_path / 'run' / 'analysis' / 'plot.py').write_text('print(1)')
  lone.train_and_evaluate(make_test_config('--num_steps=10'), workdir, overwrite=True)
  assert (tmp_path / 'run' / 'my_notes.txt').read_text() == 'mine'
  assert (tmp_path / 'run' / 'analysis' / 'plot.py').read_text() == 'print(1)'
  assert checkpoint.Checkpointer(workdir).all_steps() == [10]  # the old 20 is gone
  assert [r['step'] for r in writers.read_metrics(workdir)] == [10]


def test_a_run_from_before_the_marker_is_still_a_run(trained_workdir, tmp_path):
  workdir = str(tmp_path / 'old')
  shutil.copytree(trained_workdir, workdir)
  os.remove(os.path.join(workdir, workdir_lib.MARKER_FILE))  # config.json + checkpoints/ only
  assert workdir_lib.kind_of(workdir) == workdir_lib.RUN
  state = lone.train_and_evaluate(make_test_config('--num_steps=30'), workdir)
  assert int(state.step) == 30 and checkpoint.Checkpointer(workdir).all_steps() == [20, 30]


@pytest.mark.parametrize('overwrite', [False, True])
def test_a_directory_gan_jax_did_not_write_is_never_used(tmp_path, overwrite):
  # What `--workdir=$RUN --overwrite` meets in the user's current directory when $RUN is a
  # subdirectory that happens to hold their files.
  (tmp_path / 'thesis.tex').write_text('years of work')
  (tmp_path / 'samples').mkdir()
  (tmp_path / 'samples' / 'figure.png').write_bytes(b'png')
  (tmp_path / 'metrics.jsonl').write_text('not ours\n')
  before = sorted(str(p) for p in tmp_path.rglob('*'))
  with pytest.raises(UserError, match='was not written by gan_jax'):
    lone.train_and_evaluate(make_test_config('--num_steps=10'), str(tmp_path), overwrite=overwrite)
  assert sorted(str(p) for p in tmp_path.rglob('*')) == before
  assert (tmp_path / 'metrics.jsonl').read_text() == 'not ours\n'
  with pytest.raises(UserError, match='--workdir is empty'):
    lone.train_and_evaluate(make_test_config('--num_steps=10'), '', overwrite=overwrite)


def test_naming_the_preprocessing_that_default_resolved_to_resumes(trained_workdir, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(trained_workdir, workdir)  # --preprocessing=default: pixels for mnist_mlp
  state = lone.train_and_evaluate(
    make_test_config('--num_steps=30', '--preprocessing=pixels'), workdir
  )
  assert int(state.step) == 30


def test_an_empty_runs_dir_is_one_line_not_the_default():
  # --report_only writes the results page: an empty --runs_dir= must not mean runs/reproduce.
  result = run_module('experiments.reproduce', '--runs_dir=', '--report_only')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
    'error: --runs_dir is empty (an unset shell variable?); pass a path'
  ]


def test_overwrite_discards_an_incompatible_run(trained_workdir, tmp_path):
  workdir = str(tmp_path / 'copy')
  shutil.copytree(trained_workdir, workdir)
  config = make_test_config('--num_steps=10', '--noise_dim=9')
  with pytest.raises(CheckpointError):
    lone.train_and_evaluate(config, workdir)
  lone.train_and_evaluate(config, workdir, overwrite=True)
  assert sampling.restore(workdir).config.noise_dim == 9


def test_verbose_shows_the_traceback():
  result = run_module(
    'experiments.train',
    TEST_FLAGS,
    '--workdir=/tmp/unused',
    '--dataset=mnist',
    '--manual_dir=/nonexistent',
    '--verbose',
  )
  assert result.returncode == 2 and 'Traceback' in result.stderr


# ---------------------------------------------------------------------- disk full, read-only


def _mount_tmpfs(path: str, size: str) -> bool:
  os.makedirs(path, exist_ok=True)
  return (
    subprocess.run(
      ['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', path], capture_output=True
    ).returncode
    == 0
  )


@pytest.mark.parametrize('failure', ['disk_full', 'read_only', 'sweep_disk_full'])
def test_full_or_read_only_disk_is_a_clear_error_and_the_last_checkpoint_survives(
  tmp_path, failure
):
  # One checkpoint of the test model takes about 740 KiB: the disk holds each member's
  # first checkpoint, and not a second one.
  mount = str(tmp_path / 'mnt')
  if not _mount_tmpfs(mount, '2200k' if failure == 'sweep_disk_full' else '1200k'):
    pytest.skip('needs root to mount a small tmpfs')
  try:
    workdir = os.path.join(mount, 'run')
    workdirs = [workdir]
    args = (
      TEST_FLAGS,
      f'--workdir={workdir}',
      '--checkpoint_every=10',
      '--keep_checkpoints=5',
      '--log_every=10',
      '--sample_every=0',
    )
    if failure == 'disk_full':
      result = run_module('experiments.train', *args, '--num_steps=400')
    elif failure == 'sweep_disk_full':  # a population: two members' writes fail at once
      spec = tmp_path / 'spec.py'
      spec.write_text("def sweep():\n  return [{'seed': 0}, {'seed': 1}]\n")
      sweep_args = [a.replace(workdir, os.path.join(mount, 'sweep')) for a in args]
      result = run_module(
        'experiments.sweep',
        *sweep_args,
        f'--sweep={spec}',
        '--num_steps=400',
        '--eval=none',
        '--rank_by=d_loss',
        '--rank_mode=min',
      )
      workdirs = [os.path.join(mount, 'sweep', f'seed_{seed}') for seed in (0, 1)]
    else:
      assert run_module('experiments.train', *args, '--num_steps=10').returncode == 0
      subprocess.run(['mount', '-o', 'remount,ro', mount], check=True)
      result = run_module('experiments.train', *args, '--num_steps=40')
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr
    reason = 'Read-only file system' if failure == 'read_only' else 'No space left on device'
    assert reason in lines[0]
    for i, workdir in enumerate(workdirs):
      good = checkpoint.Checkpointer(workdir, read_only=True).all_steps()
      assert good, f'the earlier checkpoints of {workdir} are gone'
      copy = str(tmp_path / f'copy_{i}')
      shutil.copytree(workdir, copy)
      assert sampling.restore(copy).step == good[-1]
  finally:
    subprocess.run(['umount', '-l', mount], capture_output=True)


@contextlib.contextmanager
def _read_only(path: str):
  """`path` read-only for this test: a read-only bind mount (root), else its mode bits."""
  if os.geteuid() != 0:
    os.chmod(path, 0o555)
    try:
      yield
    finally:
      os.chmod(path, 0o755)
    return
  if subprocess.run(['mount', '--bind', path, path], capture_output=True).returncode:
    pytest.skip('needs a bind mount to make a directory read-only as root')
  try:
    subprocess.run(['mount', '-o', 'remount,ro,bind', path], check=True, capture_output=True)
    yield
  finally:
    subprocess.run(['umount', '-l', path], capture_output=True)


def test_a_resume_onto_read_only_checkpoints_exits_at_once_and_frees_the_lock(
  trained_workdir, tmp_path
):
  workdir = str(tmp_path / 'run')
  shutil.copytree(trained_workdir, workdir)
  with _read_only(os.path.join(workdir, 'checkpoints')):
    start = time.monotonic()
    result = run_module('experiments.train', TEST_FLAGS, f'--workdir={workdir}', timeout=120)
    took = time.monotonic() - start
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and 'cannot write checkpoints to' in lines[0], result.stderr
    assert 'the checkpoint of step 20 is intact' in lines[0]
    assert took < 60  # start-up and one line, not orbax's 300 s wait
  with open(os.path.join(workdir, workdir_lib.LOCK_FILE)) as lock:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released: nobody holds it any more
  assert checkpoint.Checkpointer(workdir, read_only=True).all_steps() == [20]


def test_a_failed_write_leaves_no_thread_waiting(tmp_path):
  # A disk that turns read-only between two saves: orbax's commit threads of the failed write
  # would wait 300 s for a signal, and the process could not exit until then.
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  state = {'w': np.ones(3, np.float32)}
  try:
    with _read_only(ckpt.directory):
      with pytest.raises(CheckpointError, match='cannot write checkpoints'):
        ckpt.save(10, state, make_test_config())
        ckpt.wait()
      deadline = time.monotonic() + 5
      while time.monotonic() < deadline and _stuck_threads():
        time.sleep(0.05)
      assert not _stuck_threads()
  finally:
    ckpt.close()


def _stuck_threads() -> list[str]:
  return [
    t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()
  ]


def test_the_entry_points_exit_even_when_a_thread_hangs_or_its_join_raises():
  """A thread stuck for 600 s, and one whose join re-raises its own failure (orbax's future
  threads do): the process exits with the error's code, silently."""
  code = (
    'import threading, time\n'
    'from experiments import cli\n'
    'class Failed(threading.Thread):\n'
    '  def join(self, timeout=None):\n'
    '    super().join(timeout)\n'
    '    raise RuntimeError("the write this thread waited for failed")\n'
    'Failed(target=time.sleep, args=(0.1,)).start()\n'
    'threading.Thread(target=time.sleep, args=(600,)).start()\n'
    'cli.exit_despite_threads(2, grace=0.5)\n'
  )
  start = time.monotonic()
  result = subprocess.run(
    [sys.executable, '-c', code], cwd=ROOT, env=_env(), capture_output=True, timeout=60
  )
  assert result.returncode == 2 and time.monotonic() - start < 30
  assert result.stderr == b''


# ------------------------------------------------------------------------------- memory


def test_memory_estimates_cover_every_member_and_the_evaluation(monkeypatch):
  config = make_test_config()
  one, eight = (resources.training_bytes(config, 784, 4000, m) for m in (1, 8))
  images = 4000 * 784
  assert eight - images == 8 * (one - images)  # the images are shared, the rest is per member
  monkeypatch.setattr(resources, 'host_bytes_available', lambda: 20 << 30)
  monkeypatch.setattr(resources, 'device_bytes_limit', lambda: None)
  # 3M MNIST samples are 9 GiB, but the evaluation holds them several times over.
  with pytest.raises(UserError, match=r'--num_samples=3000000 needs about 43.8 GiB'):
    resources.check_evaluation('--num_samples=3000000', 3_000_000, (28, 28, 1))
  resources.check_evaluation('--num_samples=10000', 10_000, (28, 28, 1))
  # A population whose members fit one at a time, but not together.
  wide = make_test_config('--g_hidden=20000,20000')
  alone = resources.training_bytes(wide, 784, 4000)
  monkeypatch.setattr(resources, 'host_bytes_available', lambda: int(alone * 1.5))
  resources.check_training(wide, 784, 4000)
  with pytest.raises(UserError, match=r'x 2 members\).* or fewer members'):
    resources.check_training(wide, 784, 4000, members=2)


# --------------------------------------------------------------------------------- pickle


FORBIDDEN_MODULES = {'pickle', 'cPickle', 'dill', 'cloudpickle', 'shelve', 'marshal', 'joblib'}


RESTRICTED_UNPICKLER = os.path.join('gan_jax', 'data', 'mnist_pkl.py')


def test_nothing_a_user_loads_is_unpickled_or_evaluated():
  offenders = []
  files = glob.glob(os.path.join(ROOT, 'gan_jax', '**', '*.py'), recursive=True)
  files += glob.glob(os.path.join(ROOT, 'experiments', '**', '*.py'), recursive=True)
  assert len(files) > 10
  for path in files:
    tree = ast.parse(open(path).read(), path)
    # The one third-party pickle (MNIST's mnist.pkl.gz) is read through a restricted unpickler:
    # pickle may be imported there only, and every Unpickler there must override find_class.
    restricted = os.path.relpath(path, ROOT) == RESTRICTED_UNPICKLER
    if restricted:
      unpicklers = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.ClassDef)
        and any(getattr(b, 'attr', '') == 'Unpickler' for b in n.bases)
      ]
      assert unpicklers and all(
        any(isinstance(f, ast.FunctionDef) and f.name == 'find_class' for f in c.body)
        for c in unpicklers
      ), 'the restricted unpickler must override find_class'
    for node in ast.walk(tree):
      where = f'{os.path.relpath(path, ROOT)}:{getattr(node, "lineno", "?")}'
      if isinstance(node, ast.Import):
        offenders += [
          where
          for a in node.names
          if a.name.split('.')[0] in FORBIDDEN_MODULES and not (restricted and a.name == 'pickle')
        ]
      elif isinstance(node, ast.ImportFrom) and node.module:
        offenders += [where] if node.module.split('.')[0] in FORBIDDEN_MODULES else []
      elif isinstance(node, ast.Call):
        name = getattr(node.func, 'id', None) or getattr(node.func, 'attr', None)
        if name in ('eval', 'exec') and isinstance(node.func, ast.Name):
          offenders.append(where)
        if (
          name == 'load'
          and isinstance(node.func, ast.Attribute)
          and getattr(node.func.value, 'id', '') in ('np', 'numpy')
        ):
          kwargs = {k.arg: k.value for k in node.keywords}
          if not (
            isinstance(kwargs.get('allow_pickle'), ast.Constant)
            and kwargs['allow_pickle'].value is False
          ):
            offenders.append(where + ' np.load without allow_pickle=False')
  assert not offenders, offenders
