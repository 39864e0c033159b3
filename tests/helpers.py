"""Shared test helpers: the test config and subprocess runs of the entry points."""

import os
import subprocess
import sys

from experiments.config_flags import config_from_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_FLAGS = os.path.join(ROOT, 'experiments', 'configs', 'test.flags')


def make_test_config(*args: str):
  return config_from_args([f'--flagfile={TEST_FLAGS}', *args])


# The tests' compiler: XLA's CPU backend at optimisation level 1 (of 0-3; default 2) compiles the
# tests' programs in two thirds of the time (the tiny fused step: 2.9 -> 2.0 s) and, on this
# machine, to the same numbers: 40 steps of the test config and 64 samples from them are
# bit-identical at levels 1 and 2. (Level 0 halves the time but miscompiles: the 1-D game's first
# step turns G's parameters to NaN.) What users run is compiled at the default level.
COMPILER_FLAGS = '--xla_backend_optimization_level=1'


def xla_flags(devices: int) -> str:
  return f'{COMPILER_FLAGS} --xla_force_host_platform_device_count={devices}'


def subprocess_env(devices: int = 1, **extra: str) -> dict[str, str]:
  """This process's environment for a subprocess on `devices` forced CPU devices."""
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  env.update(XLA_FLAGS=xla_flags(devices), JAX_PLATFORMS='cpu', **extra)
  return env


def run_module(module: str, *args: str, devices: int = 1, timeout: float = 240):
  """Runs `python -m module args` from the repo root with `devices` forced CPU devices."""
  return subprocess.run(
    [sys.executable, '-m', module, *args],
    cwd=ROOT,
    env=subprocess_env(devices),
    capture_output=True,
    text=True,
    timeout=timeout,
  )
