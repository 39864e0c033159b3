"""Test session setup: 4 forced CPU devices (multi-device tests), quiet logs, shared fixtures."""

import os

# Must happen before jax is imported anywhere: tests see 4 CPU devices, so data parallelism is
# exercised on any machine.
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=4').strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# Prepared data sets go to a per-session directory, never the user's ~/tensorflow_datasets
# (subprocesses inherit it).
if 'TFDS_DATA_DIR' not in os.environ:
  import tempfile
  os.environ['TFDS_DATA_DIR'] = tempfile.mkdtemp(prefix='gan_jax_tfds_')
