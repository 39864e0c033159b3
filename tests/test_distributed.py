"""Many hosts on one machine: 2 processes x 2 CPU devices on JAX's distributed runtime (gloo over
loopback) train exactly as 1 process x 4 devices (this test process: conftest forces 4)."""

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from gan_jax.base.errors import ConfigError
from gan_jax.loop import lone
from gan_jax.runtime import distributed, sampling, writers
from gan_jax.runtime import workdir as workdir_lib
from gan_jax.sweep import plan as sweep_plan
from tests.helpers import ROOT, TEST_FLAGS, make_test_config, subprocess_env

# Momentum SGD: linear in the gradient, so the all-reduce's summation order stays float noise.
ARGS = (
  '--optimizer=sgd_momentum',
  '--learning_rate=0.5',
  '--num_steps=20',
  '--checkpoint_every=10',
  '--sample_every=20',
)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def launch(
  module: str,
  *args: str,
  processes: int = 2,
  devices: int = 2,
  timeout: float = 120,
  compilation_cache: str | None = None,
  check: bool = True,
) -> list:
  """Runs `python -m module args` as `processes` processes of one JAX program; their outputs.

  With a compilation_cache directory, a later launch loads what an earlier one compiled. With
  check, every process must exit with 0; else (exit code, output) per process.
  """
  env = subprocess_env(devices)
  if compilation_cache:
    env.update(
      JAX_COMPILATION_CACHE_DIR=compilation_cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0'
    )
  address = f'127.0.0.1:{_free_port()}'
  procs = [
    subprocess.Popen(
      [
        sys.executable,
        '-m',
        module,
        *args,
        f'--coordinator_address={address}',
        f'--num_processes={processes}',
        f'--process_id={i}',
      ],
      cwd=ROOT,
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
    )
    for i in range(processes)
  ]
  try:
    outputs = [p.communicate(timeout=timeout)[0] for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.send_signal(signal.SIGKILL)
        p.wait()
  if not check:
    return [(p.returncode, out) for p, out in zip(procs, outputs)]
  for i, (p, out) in enumerate(zip(procs, outputs)):
    assert p.returncode == 0, f'process {i} exited with {p.returncode}:\n{out[-3000:]}'
  return outputs


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  """1 process x 4 devices, checkpoints at 10 and 20."""
  assert jax.device_count() == 4 and jax.process_count() == 1
  workdir = str(tmp_path_factory.mktemp('one_process'))
  lone.train_and_evaluate(make_test_config(*ARGS), workdir)
  return {step: sampling.restore(workdir, step).state for step in (10, 20)}


def _assert_same(state, ref, scale_from, what):
  """Equal to float tolerance: a few ulps of each value, plus 0.1% of how far the net moved
  between the two checkpoints (G moves by ~1e-6 here, so an absolute tolerance proves nothing)."""
  for net in ('g_params', 'd_params'):
    leaves = lambda s: [np.asarray(x, np.float64) for x in jax.tree.leaves(getattr(s, net))]
    moved = max(np.max(np.abs(a - b)) for a, b in zip(leaves(ref), leaves(scale_from)))
    assert moved > 0, f'{what}: {net} did not train'
    for a, b in zip(leaves(state), leaves(ref)):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-3 * moved, err_msg=f'{what} {net}')


def test_two_processes_train_and_resume_as_one_process_with_four_devices(reference, tmp_path):
  workdir = str(tmp_path / 'two_processes')
  cache = str(tmp_path / 'jax_cache')
  out = launch(
    'experiments.train',
    f'--flagfile={TEST_FLAGS}',
    *ARGS,
    f'--workdir={workdir}',
    compilation_cache=cache,
  )
  assert 'on 4 device(s)' in out[0] and 'step 20/20' in out[0]
  assert 'step 20/20' not in out[1], 'only process 0 logs'
  # Written once, by all processes together (checkpoints) or by process 0 (the rest).
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['10', '20']
  assert [r['step'] for r in writers.read_metrics(workdir)] == [10, 20]
  assert os.listdir(os.path.join(workdir, 'samples')) == ['step_00000020.png']
  for step in (10, 20):
    _assert_same(
      sampling.restore(workdir, step).state,
      reference[step],
      reference[30 - step],
      f'2 processes, step {step}',
    )

  # Stopped after the checkpoint of step 10: what that run leaves (its run marker too).
  # Resumed by 2 processes.
  resumed = str(tmp_path / 'resumed')
  os.makedirs(os.path.join(resumed, 'checkpoints'))
  shutil.copy(os.path.join(workdir, workdir_lib.MARKER_FILE), resumed)
  shutil.copytree(
    os.path.join(workdir, 'checkpoints', '10'), os.path.join(resumed, 'checkpoints', '10')
  )
  out = launch(
    'experiments.train',
    f'--flagfile={TEST_FLAGS}',
    *ARGS,
    f'--workdir={resumed}',
    compilation_cache=cache,
  )
  assert 'resumed from' in out[0] and 'step 20/20' in out[0]
  _assert_same(
    sampling.restore(resumed, 20).state,
    reference[20],
    reference[10],
    '2 processes resumed at 10, step 20',
  )


def test_two_processes_train_a_population_whose_members_equal_their_runs_alone(reference, tmp_path):
  """A sweep of 2 members on a ('sweep', 'data') = (2, 2) mesh across the 2 processes: member
  seed_0 is the reference run's config, so it must end where that run (alone, 1 process x 4
  devices) ends."""
  spec = tmp_path / 'spec.py'
  spec.write_text('def sweep():\n  return [dict(seed=0), dict(seed=1, learning_rate=0.2)]\n')
  workdir = str(tmp_path / 'sweep')
  out = launch(
    'experiments.sweep',
    f'--flagfile={TEST_FLAGS}',
    *ARGS,
    f'--sweep={spec}',
    f'--workdir={workdir}',
    '--eval_num_samples=100',
  )
  assert "{'sweep': 2, 'data': 2}" in out[0] and 'results in' in out[0]
  assert 'step 20/20' not in out[1], 'only process 0 logs'
  member = sampling.restore(os.path.join(workdir, 'seed_0'))
  assert member.step == 20 and member.config == make_test_config(*ARGS, '--eval_num_samples=100')
  _assert_same(member.state, reference[20], reference[10], 'population member seed_0')
  other = sampling.restore(os.path.join(workdir, 'seed_1-learning_rate_0.2'))
  assert other.config.learning_rate == 0.2 and other.step == 20
  with open(os.path.join(workdir, sweep_plan.RESULTS_CSV)) as f:
    assert sorted(r['member'] for r in csv.DictReader(f)) == ['seed_0', 'seed_1-learning_rate_0.2']


def test_two_processes_train_a_conditional_model_as_one_process_with_four_devices(tmp_path):
  """The labels too: each process places the training labels beside its images, the class mix
  is the split's, and the 2 x 2 devices end where 1 x 4 do."""
  args = (*ARGS, '--model=mnist_mlp_cgan', '--sample_every=0')
  alone = str(tmp_path / 'one_process')
  lone.train_and_evaluate(make_test_config(*args), alone)
  workdir = str(tmp_path / 'two_processes')
  out = launch('experiments.train', f'--flagfile={TEST_FLAGS}', *args, f'--workdir={workdir}')
  assert 'on 4 device(s)' in out[0] and 'step 20/20' in out[0]
  states = {w: {s: sampling.restore(w, s).state for s in (10, 20)} for w in (alone, workdir)}
  np.testing.assert_array_equal(states[workdir][20].class_mix, states[alone][20].class_mix)
  _assert_same(states[workdir][20], states[alone][20], states[alone][10], 'conditional, step 20')


def test_a_locked_workdir_stops_every_process_at_once(tmp_path):
  """Process 0 alone takes the workdir lock; when it cannot, the others must not wait for it in
  a collective: every process exits with one line."""
  workdir = str(tmp_path)
  with workdir_lib.locked(workdir):
    (rc0, out0), (rc1, out1) = launch(
      'experiments.train',
      f'--flagfile={TEST_FLAGS}',
      f'--workdir={workdir}',
      timeout=60,
      check=False,
    )
  assert rc0 == rc1 == 2
  assert 'is in use by another run' in out0 and 'process 0 could not start' in out1


def test_distributed_flags_fail_with_one_line():
  with pytest.raises(
    ConfigError, match='--coordinator_address needs --num_processes, --process_id too'
  ):
    distributed.initialize(coordinator_address='localhost:1234')
  with pytest.raises(ConfigError, match=r'--process_id=2 must be in \[0, --num_processes=2\)'):
    distributed.initialize(coordinator_address='localhost:1', num_processes=2, process_id=2)
  with pytest.raises(ConfigError, match='--distributed=off contradicts --num_processes'):
    distributed.initialize('off', num_processes=2)
  distributed.initialize('off')  # one process: nothing to start
