"""Many hosts on JAX's own multi-controller runtime: one process per host (or per GPU).

Every process runs the same program on its local devices; `jit` over a mesh of all devices
makes them one computation, and orbax writes a checkpoint with all processes together. This
module only starts the runtime (`jax.distributed.initialize`, before anything touches a
device) and offers the few cross-process agreements the loop needs.

  mode='auto' (--distributed=auto, the default): coordinator_address/num_processes/process_id
      when given; else whatever JAX detects from the scheduler (SLURM under srun, Open MPI,
      Cloud TPU, $JAX_COORDINATOR_ADDRESS); else a single process.
  mode='off': a single process, whatever the environment says.

The flags are defined by the entry points, which pass their values here.
"""

import contextlib
import re
from typing import Callable, ContextManager

from gan_jax.base import log
from gan_jax.base.errors import ConfigError, UserError

# jax is imported inside the functions: entry points check their flags before paying for
# importing jax.

MODES = ('auto', 'off')


def initialize(
  mode: str = 'auto',
  *,
  coordinator_address: str | None = None,
  num_processes: int | None = None,
  process_id: int | None = None,
) -> None:
  """Starts JAX's distributed runtime when there is more than this process. Call it first.

  Args:
    mode: 'auto' or 'off' (see the module docstring).
    coordinator_address: host:port of process 0; with num_processes and process_id, or none.
    num_processes: number of processes.
    process_id: this process's index.

  Raises:
    ConfigError: an unknown mode, or only some of the three values given.
  """
  if mode not in MODES:
    raise ConfigError(f'--distributed={mode} is not one of {", ".join(MODES)}')
  given = {
    'coordinator_address': coordinator_address,
    'num_processes': num_processes,
    'process_id': process_id,
  }
  named = [k for k, v in given.items() if v is not None]
  if mode == 'off':
    if named:
      raise ConfigError(f'--distributed=off contradicts --{named[0]}; drop one of them')
    return
  if named and len(named) < 3:
    missing = sorted(set(given) - set(named))
    raise ConfigError(
      f'--{named[0]} needs {", ".join("--" + m for m in missing)} too (or none '
      "of them, to let JAX read the scheduler's environment)"
    )
  if coordinator_address is not None:
    check_address(coordinator_address)
  if named and num_processes < 1:
    raise ConfigError(f'--num_processes={num_processes} must be positive')
  if named and not 0 <= process_id < num_processes:
    raise ConfigError(f'--process_id={process_id} must be in [0, --num_processes={num_processes})')
  # Collectives between CPU processes (tests, CPU clusters) need an implementation; gloo ships
  # with jaxlib. It only affects the CPU backend, so it is harmless on GPU and TPU hosts.
  import jax
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top

  if not named and xla_bridge.backends_are_initialized():
    # JAX is already in use here (a notebook, a test): nothing to join, one process.
    log.detail('JAX already initialised; running as one process')
    return
  if jax.config.jax_cpu_collectives_implementation is None:
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  try:
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
  except ValueError as e:
    # Nothing given and nothing detected: JAX cannot name a coordinator, so this is one process.
    if named or 'coordinator_address should be defined' not in str(e):
      raise
    log.detail('no multi-process environment detected; running as one process')
    return
  log.detail(
    f'process {jax.process_index()} of {jax.process_count()}, '
    f'{jax.local_device_count()} local / {jax.device_count()} global devices'
  )


def check_address(address: str) -> None:
  """Raises ConfigError unless `address` is host:port (IPv6 as [addr]:port), port 1-65535."""
  match = re.fullmatch(r'(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(\d{1,5})', address)
  if not match or not 1 <= int(match.group(2)) <= 65535:
    raise ConfigError(
      f'--coordinator_address={address!r} is not host:port (a host name or IP '
      'of process 0 and a free port in 1-65535, e.g. host0:12355)'
    )


def is_primary() -> bool:
  """Process 0 writes logs, images, JSON files and holds the workdir lock."""
  import jax

  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process reaches the barrier `name` (no-op for one process)."""
  import jax
  from jax.experimental import multihost_utils

  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def agree(ok: bool) -> bool:
  """Process 0's `ok`, on every process (one process: `ok` itself).

  Process 0 decides alone (a lock, a clear) but every process must stop together: the others
  would otherwise wait forever in the next collective.
  """
  import jax
  import numpy as np
  from jax.experimental import multihost_utils

  if jax.process_count() > 1:
    ok = bool(multihost_utils.broadcast_one_to_all(np.int32(ok)))
  return ok


@contextlib.contextmanager
def primary_context(factory: Callable[[], ContextManager]):
  """Enters factory() on process 0 only; if that fails there, every process raises.

  Process 0 re-raises its own error; the others raise a UserError pointing at process 0's log.
  """
  with contextlib.ExitStack() as stack:
    error = None
    if is_primary():
      try:
        stack.enter_context(factory())
      except UserError as e:
        error = e
    ok = agree(error is None)
    if error is not None:
      raise error
    if not ok:
      raise UserError('process 0 could not start (its log says why); stopping with it')
    yield


@contextlib.contextmanager
def primary_first():
  """Runs the body on process 0, then on the others (e.g. preparing a data set on first use).

  If the body fails on process 0, the others raise instead of running it.
  """
  import jax

  if jax.process_count() == 1:
    yield
    return
  if is_primary():
    try:
      yield
    except BaseException:
      agree(False)
      raise
    agree(True)
  else:
    if not agree(True):
      raise UserError('process 0 failed (its log says why); stopping with it')
    yield
