"""The loop costs nothing per step: no recompiles, no transfers, no host syncs, metrics read at
log steps only, checkpoints written in the background (issue 6; speed itself: benchmarks.bench).

conftest forces 4 CPU devices, so the fused step here is the data-parallel one.
"""

import collections
import re

import jax
import pytest

from benchmarks.measure import BACKEND_COMPILE, CompileLog
from gan_jax.loop import assembly, lone
from gan_jax.runtime import checkpoint, parallel
from tests.helpers import make_test_config

# Host round trips a compiled program could make: Python callbacks (jax.debug.print,
# pure_callback, io_callback), infeed/outfeed, host send/recv.
_HOST_OPS = re.compile(r'custom_call_target="[^"]*callback[^"]*"|\b(infeed|outfeed|send|recv)\(')


def _device_inputs(config):
  exp = assembly.setup(config)
  data = parallel.put_replicated(exp.train_images.reshape(exp.train_images.shape[0], -1), exp.mesh)
  return exp, exp.init_state(), data


def test_fused_steps_run_without_transfers_recompiles_or_host_ops():
  config = make_test_config()
  exp, state, data = _device_inputs(config)
  fused = parallel.compile_train_steps(exp.gan, exp.mesh, config.steps_per_call)
  assert len(exp.mesh.devices.flat) == 4
  state, _ = fused(state, data)
  jax.block_until_ready(state)
  with CompileLog() as compiles, jax.transfer_guard('disallow'):
    for _ in range(5):
      state, metrics = fused(state, data)
    jax.block_until_ready((state, metrics))
  assert compiles.events == []
  assert int(state.step) == 6 * config.steps_per_call
  assert metrics['d_loss'].shape == (config.steps_per_call,)
  hlo = fused.lower(state, data).compile().as_text()
  assert _HOST_OPS.search(hlo) is None, _HOST_OPS.search(hlo).group(0)


@pytest.fixture(scope='module')
def instrumented_run(tmp_path_factory):
  """test.flags with calls of 7 steps against logs every 10: chunks of 7 and 3 steps.

  Records what the loop compiles and when, each fused call (made under
  transfer_guard('disallow'): its inputs must already be on the devices), each read of the
  metrics, and each checkpoint save and wait.
  """
  config = make_test_config('--steps_per_call=7')
  record = {
    'compile_requests': [],
    'calls': 0,
    'steps_done': 0,
    'compiled_at': [],
    'metric_reads': [],
    'saves': 0,
    'waits': 0,
  }
  compile_train_steps, device_get = parallel.compile_train_steps, jax.device_get
  save, wait = checkpoint.Checkpointer.save, checkpoint.Checkpointer.wait

  def compile_guarded(gan, mesh, num_steps):
    record['compile_requests'].append(num_steps)
    fused = compile_train_steps(gan, mesh, num_steps)

    def call(state, data):
      record['calls'] += 1
      with jax.transfer_guard('disallow'):
        out = fused(state, data)
      record['steps_done'] += num_steps
      return out

    return call

  def compiled_at(event, duration, **kwargs):  # (function, steps run when it compiled)
    del duration
    if event == BACKEND_COMPILE:
      record['compiled_at'].append((kwargs.get('fun_name'), record['steps_done']))

  def counting_device_get(tree):
    if isinstance(tree, list) and tree and isinstance(tree[0], dict) and 'd_loss' in tree[0]:
      record['metric_reads'].append(sum(m['d_loss'].shape[0] for m in tree))
    return device_get(tree)

  def counting_save(self, *args, **kwargs):
    record['saves'] += 1
    return save(self, *args, **kwargs)

  def counting_wait(self):
    record['waits'] += 1
    return wait(self)

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(parallel, 'compile_train_steps', compile_guarded)
    patch.setattr(jax, 'device_get', counting_device_get)
    patch.setattr(checkpoint.Checkpointer, 'save', counting_save)
    patch.setattr(checkpoint.Checkpointer, 'wait', counting_wait)
    jax.monitoring.register_event_duration_secs_listener(compiled_at)
    try:
      state = lone.train_and_evaluate(config, str(tmp_path_factory.mktemp('run')))
    finally:
      jax.monitoring.unregister_event_duration_listener(compiled_at)
  record['compiled'] = collections.Counter(name for name, _ in record['compiled_at'])
  return config, state, record


def test_a_run_compiles_the_fused_step_once_per_chunk_length(instrumented_run):
  config, state, record = instrumented_run
  assert int(state.step) == config.num_steps == 40
  assert sorted(record['compile_requests']) == [3, 7]
  assert record['compiled']['jit(train_steps)'] == 2
  assert record['calls'] == 8  # 7 + 3 per 10 steps


def test_metrics_are_read_once_per_log_step(instrumented_run):
  config, _, record = instrumented_run
  # One read per log step, each of the steps since the previous one: never a read per step.
  assert record['metric_reads'] == [config.log_every] * (config.num_steps // config.log_every)


def test_checkpoints_are_written_in_the_background(instrumented_run):
  config, _, record = instrumented_run
  assert record['saves'] == config.num_steps // config.checkpoint_every
  assert record['waits'] == 1  # the loop blocks on a write only once, when it ends


def test_log_checkpoint_and_sample_steps_compile_nothing_the_second_time(instrumented_run):
  # By step 20 every kind of event (log, checkpoint, sample grid, both chunk lengths) has
  # happened once; the identical events of steps 30 and 40 must hit the compilation caches.
  # (check_finite once jitted a fresh lambda per call: a compile at every log step.)
  _, _, record = instrumented_run
  assert [name for name, steps_done in record['compiled_at'] if steps_done > 20] == []
