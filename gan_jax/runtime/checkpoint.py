"""Checkpoints through orbax: the TrainState plus the run's config as JSON, every N steps.

Restoring takes an abstract target (shapes, dtypes and the current shardings), so a checkpoint
written by any number of devices or processes restores onto any other. Each checkpoint also
holds the sha256 of its state and of its config (the `integrity` item, committed with it): a
restored state or config that hashes differently (bit rot: the compressed array files carry no
checksum of their own) is treated as unreadable, and so is a checkpoint whose own metadata names
the integrity item but lacks it (deleting the item must not switch the check off).
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from gan_jax.base.config import CHECKPOINT_FIELDS, Config
from gan_jax.base.errors import CheckpointError, storage_error
from gan_jax.base.log import warn
from gan_jax.runtime import rundir


def abstract_like(tree: Any, sharding=None) -> Any:
  """ShapeDtypeStructs of `tree`, placed with `sharding` (default: each leaf's own)."""
  return jax.tree.map(
    lambda x: jax.ShapeDtypeStruct(
      x.shape, x.dtype, sharding=sharding if sharding is not None else x.sharding
    ),
    tree,
  )


INTEGRITY_ITEM = 'integrity'


# A reader racing a run that writes and rotates checkpoints: how many fresh listings it tries.
ROTATION_RETRIES = 3
# orbax's per-checkpoint metadata file: it names every item the checkpoint was written with.
METADATA_FILE = '_CHECKPOINT_METADATA'


class IntegrityError(ValueError):
  """A checkpoint's state or config does not hash to the sha256 saved with it, or the saved
  hashes are missing from a checkpoint written with them."""


def config_sha256(values: dict) -> str:
  """sha256 of a config's fields as canonical JSON (keys sorted; floats as Python repr)."""
  return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def state_sha256(state) -> str:
  """sha256 over every leaf's dtype, shape and bytes, in tree order.

  A replicated array spanning several processes is read from this process's own copy.
  """
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(state):
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
      leaf = leaf.addressable_data(0)  # replicated: every copy is the whole array
    array = np.ascontiguousarray(jax.device_get(leaf))
    digest.update(f'{array.dtype.str}{array.shape}'.encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


class Checkpointer:
  """An orbax CheckpointManager for one workdir; writes are asynchronous.

  All processes call `save` together (orbax coordinates a multi-host write); only the primary
  process writes the JSON config.
  """

  def __init__(self, workdir: str, *, max_to_keep: int = 3, read_only: bool = False):
    self.directory = rundir.checkpoints_dir(workdir)
    if os.path.exists(self.directory) and not os.path.isdir(self.directory):
      raise CheckpointError(
        f'{self.directory} is a file where the checkpoints directory is '
        'expected; move it away and run the same command'
      )
    # Temporary directories are saves cut short by a kill: never a usable checkpoint.
    options = ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep,
      create=not read_only,
      read_only=read_only,
      cleanup_tmp_directories=not read_only,
      enable_async_checkpointing=True,
    )
    self._manager = ocp.CheckpointManager(self.directory, options=options)
    if not read_only:
      try:  # a resumed run on a read-only disk stops here, not after training to the first save
        with self._storage_errors():
          self._check_writable()
      except BaseException:
        self.close()
        raise

  def _check_writable(self) -> None:
    fd, probe = tempfile.mkstemp(dir=self.directory, prefix='.gan_jax-write-check-')
    os.close(fd)
    os.remove(probe)

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state, config: Config) -> None:
    """Starts an asynchronous write; returns once the arrays are copied off the devices.

    A write is atomic (orbax writes a temporary directory, then renames it): a full disk or
    a kill mid-write leaves the previous checkpoints as they were.
    """
    integrity = {
      'state_sha256': state_sha256(state),
      'config_sha256': config_sha256(config.to_dict()),
    }
    with self._storage_errors():
      self._manager.save(
        step,
        args=ocp.args.Composite(
          state=ocp.args.StandardSave(state),
          config=ocp.args.JsonSave(config.to_dict()),
          **{INTEGRITY_ITEM: ocp.args.JsonSave(integrity)},
        ),
        force=True,
      )

  def read_config(self, step: int) -> Config:
    """The config checkpoint `step` was written with, checked against its saved sha256."""
    return self._read_checked(step)[0]

  def _integrity_named(self, step: int) -> bool:
    """Whether checkpoint `step` was written with the integrity item.

    Its orbax metadata lists the items it was written with: a checkpoint that names the item
    must have it, whatever is on disk. Without readable metadata, the item's directory decides
    (checkpoints from before the hash have neither).
    """
    step_dir = os.path.join(self.directory, str(step))
    try:
      with open(os.path.join(step_dir, METADATA_FILE), encoding='utf-8') as f:
        handlers = json.load(f).get('item_handlers') or {}
      return INTEGRITY_ITEM in handlers
    except (OSError, ValueError, AttributeError):
      return os.path.isdir(os.path.join(step_dir, INTEGRITY_ITEM))

  def _read_checked(self, step: int) -> tuple[Config, dict | None]:
    """(config, saved hashes or None for a checkpoint from before them); IntegrityError when
    the item is named but missing or the config does not match its hash."""
    named = self._integrity_named(step)
    if named and not os.path.isdir(os.path.join(self.directory, str(step), INTEGRITY_ITEM)):
      raise IntegrityError(
        f'its metadata names the {INTEGRITY_ITEM} item (the sha256 of its state) but the '
        'item is missing'
      )
    items = {'config': ocp.args.JsonRestore()}
    if named:
      items[INTEGRITY_ITEM] = ocp.args.JsonRestore()
    restored = self._manager.restore(step, args=ocp.args.Composite(**items))
    integrity = restored[INTEGRITY_ITEM] if named else None
    if named and not isinstance(integrity, dict):
      raise IntegrityError(f'its {INTEGRITY_ITEM} item is not a JSON object')
    saved = integrity.get('config_sha256') if integrity else None
    if saved is not None and config_sha256(restored.config) != saved:
      raise IntegrityError('the config does not match the sha256 saved with it (bit rot)')
    return Config.from_dict(restored.config), integrity

  def restore(
    self,
    abstract_state,
    step: int | None = None,
    *,
    expect: Config | None = None,
    quarantine: bool = False,
  ) -> tuple[Any, Config, int]:
    """Restores `step` (default: the newest checkpoint that reads back whole).

    A checkpoint that fails to read (half-written, truncated, garbage metadata) or whose state
    does not match its saved sha256 (bit rot), or that lacks the integrity item its metadata
    names, is skipped with a warning naming it, falling back to the previous one. Checkpoints
    written before the hash existed (their metadata names no such item) are restored unchecked.
    Nothing is deleted: with `quarantine`, a bad one is moved to <workdir>/corrupt_checkpoints/
    so that training can write that step again.

    Args:
      abstract_state: shapes, dtypes and shardings to restore into, or a function of the
        checkpoint's config that returns them (to restore without knowing the config).
      step: a specific step, or None for the newest readable.
      expect: the current config; a checkpoint of an incompatible config is an error, not a
        fallback.
      quarantine: move unreadable checkpoints aside (training); sampling leaves them.

    Returns:
      (state, config it was written with, step).
    Raises:
      CheckpointError: no checkpoint, an incompatible one, or none readable.
    """
    available = self.all_steps()
    if not available:
      raise CheckpointError(
        f'no checkpoint in {self.directory}; train first (the training command with this --workdir)'
      )
    if step is not None and step not in available:
      raise CheckpointError(
        f'no checkpoint for step {step} in {self.directory}; available steps: {available}'
      )
    errors, rotated, tried = [], [], set()

    def failed(candidate: int, error: Exception) -> None:
      if os.path.isdir(os.path.join(self.directory, str(candidate))):
        errors.append(self._bad(candidate, error, quarantine))
      else:  # removed while being read: a run writing here rotated it away, nothing is damaged
        rotated.append(candidate)

    for _ in range(ROTATION_RETRIES):
      candidates = [step] if step is not None else [s for s in available[::-1] if s not in tried]
      for candidate in candidates:
        tried.add(candidate)
        try:
          config, integrity = self._read_checked(candidate)
        except Exception as e:  # orbax raises many types for a damaged checkpoint
          failed(candidate, e)
          continue
        if expect is not None:
          check_compatible(config, expect, f'{self.directory}/{candidate}')
        try:
          target = abstract_state(config) if callable(abstract_state) else abstract_state
          restored = self._manager.restore(
            candidate, args=ocp.args.Composite(state=ocp.args.StandardRestore(target))
          )
          if integrity is not None and state_sha256(restored.state) != integrity.get(
            'state_sha256'
          ):
            raise IntegrityError('the state does not match the sha256 saved with it (bit rot)')
          return restored.state, config, candidate
        except Exception as e:
          failed(candidate, e)
      if step is not None or not rotated:
        break
      self._manager.reload()  # the newer checkpoints the run wrote meanwhile
      available = self.all_steps()
    if rotated:
      also = f'; unreadable: {"; ".join(errors)}' if errors else ''
      raise CheckpointError(
        f'the checkpoints in {self.directory} changed while being read: step(s) {rotated} '
        f'were removed meanwhile (a run writing there rotates them){also}; run the same '
        'command again' + (', or pick a newer --step' if step is not None else '')
      )
    raise CheckpointError(
      f'no readable checkpoint in {self.directory} ({"; ".join(errors)}); '
      'use a new --workdir or --overwrite'
    )

  def _bad(self, step: int, error: Exception, quarantine: bool) -> str:
    reason = f'{type(error).__name__}: {_first_line(error)}'
    where = os.path.join(self.directory, str(step))
    if quarantine:
      target = os.path.join(
        rundir.corrupt_dir(os.path.dirname(self.directory)), f'{step}-{int(time.time())}'
      )
      os.makedirs(os.path.dirname(target), exist_ok=True)
      shutil.move(where, target)
      self._manager.reload()
      warn(
        f'checkpoint {where} of step {step} is unreadable ({reason}); moved to {target}, '
        'falling back to an older one'
      )
    else:
      warn(f'checkpoint {where} of step {step} is unreadable ({reason}); trying an older one')
    return f'step {step}: {reason}'

  def wait(self) -> None:
    """Blocks until the asynchronous write in flight is committed."""
    with self._storage_errors():
      self._manager.wait_until_finished()

  @contextlib.contextmanager
  def _storage_errors(self):
    """A full, read-only or forbidden disk becomes one line naming what is still safe."""
    try:
      yield
    except Exception as e:
      # A failed write leaves orbax's commit threads waiting (five minutes) for signals that
      # will never come, and the process cannot exit until they give up.
      release_stuck_writes()
      cause = storage_error(e)
      if cause is None:
        raise
      good = [s for s in self.all_steps() if self._is_committed(s)]
      kept = (
        f'the checkpoint of step {good[-1]} is intact' if good else 'no earlier checkpoint exists'
      )
      raise CheckpointError(
        f'cannot write checkpoints to {self.directory} ({cause.strerror}); {kept}'
        '; free space or pick a writable --workdir, then run the same command to resume'
      ) from e

  def _is_committed(self, step: int) -> bool:
    return os.path.exists(
      os.path.join(self.directory, str(step), 'commit_success.txt')
    ) or os.path.exists(os.path.join(self.directory, str(step), '_CHECKPOINT_METADATA'))

  def close(self) -> None:
    self._manager.close()


def _first_line(error: BaseException) -> str:
  """The first line of an error's text, without tensorstore's pointer to its details (the
  repr of a bound pybind method and a TensorStore spec: noise in a one-line warning)."""
  text = str(error).splitlines()[0] if str(error) else ''
  return re.sub(r'\s*See full TensorStore details:.*', '', text).strip() or type(error).__name__


def release_stuck_writes() -> None:
  """Cancels orbax's background commit threads that still wait for their start signal (call
  only once a write failed: it cancels every write in flight).

  After a failed write (a read-only or full disk), the threads of that write wait up to
  orbax's barrier timeout (300 s) for a signal, such as "the directory exists", that the failed
  step never sends; they are not daemons, so the process could not exit. Each is cancelled,
  then its awaited signals are set so that it wakes, sees the cancellation and ends. A thread
  already past its wait is only cancelled. Uses orbax internals; if they change, this does
  nothing (an entry point still exits: it stops waiting for threads after its error line).
  """
  try:
    from orbax.checkpoint._src.futures import future as orbax_future

    thread_type = orbax_future._SignalingThread
  except (ImportError, AttributeError):
    return
  for thread in threading.enumerate():
    if not isinstance(thread, thread_type) or not thread.is_alive():
      continue
    with contextlib.suppress(Exception):
      thread.cancel()
      orbax_future.set_signals(thread._receive_signals, operation_id=thread._operation_id)


def check_compatible(saved: Config, current: Config, where: str) -> None:
  """Raises CheckpointError naming the first field that makes resuming a different experiment."""
  # --preprocessing=default is the model's own choice: pixels on a run made with default (that
  # resolved to pixels) is the same experiment.
  saved = saved.replace(preprocessing=saved.resolved_preprocessing)
  current = current.replace(preprocessing=current.resolved_preprocessing)
  differ = saved.diff(current, CHECKPOINT_FIELDS)
  if differ:
    name = differ[0]
    raise CheckpointError(
      f'checkpoint {where} belongs to a different config: --{name} was '
      f'{getattr(saved, name)!r}, now {getattr(current, name)!r}'
      f'{f" (also differ: {differ[1:]})" if differ[1:] else ""}; '
      'use a new --workdir, or --overwrite to discard it'
    )
