"""Shared test helpers: the test config and subprocess runs of the entry points."""

import os
import subprocess
import sys

from experiments.config_flags import config_from_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_FLAGS = os.path.join(ROOT, 'experiments', 'configs', 'test.flags')


def make_test_config(*args: str):
  return config_from_args([f'--flagfile={TEST_FLAGS}', *args])


def run_module(module: str, *args: str, devices: int = 1, timeout: float = 240):
  """Runs `python -m module args` from the repo root with `devices` forced CPU devices."""
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  env['XLA_FLAGS'] = f'--xla_force_host_platform_device_count={devices}'
  env['JAX_PLATFORMS'] = 'cpu'
  return subprocess.run(
    [sys.executable, '-m', module, *args],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
  )
