"""Test session setup: 4 forced CPU devices (multi-device tests), quiet logs, shared fixtures."""

import os

from tests.helpers import xla_flags  # imports no JAX

# Must happen before jax is imported anywhere: tests see 4 CPU devices, so data parallelism is
# exercised on any machine, and compile as helpers.COMPILER_FLAGS says.
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' ' + xla_flags(4)).strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# Prepared data sets go to a per-session directory, never the user's ~/tensorflow_datasets
# (subprocesses inherit it).
import tempfile

if 'TFDS_DATA_DIR' not in os.environ:
  os.environ['TFDS_DATA_DIR'] = tempfile.mkdtemp(prefix='gan_jax_tfds_')
# One compilation cache for the session, shared by every test and every subprocess they start:
# the tests compile the same few programs (the test config's step, sampler, evaluator) in many
# processes (tests/test_train.py: 132 s without it, 59 s with it, measured back to back on a
# loaded 2-core machine). Per session, so a test never sees an executable from another version
# of the code.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='gan_jax_xla_')
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'
  os.environ['JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES'] = '0'


def pytest_configure(config):
  """Prepares the bundled data set once, before xdist's workers start: two workers preparing it
  into the shared TFDS_DATA_DIR at once collide on TFDS's final rename."""
  if hasattr(config, 'workerinput'):  # a worker: the controller has done it
    return
  from gan_jax import data

  data.load_split('mnist_5k', 'train')
