"""The one training loop: chunks of compiled steps, and the periodic actions between them.

A lone run and a population run this same loop; they differ only in the state they hand it (one
TrainState, or members stacked along a leading axis), the compiled step and the actions
(gan_jax.loop.actions, gan_jax.loop.finite). It knows nothing of GANs: a test drives it with a
fake step. The loop decides how many steps to fuse into each call, so that every
action fires exactly at its interval, and keeps the metrics on the devices until an action asks
for them: between two logs the host never waits for the devices.
"""

import contextlib
import os
import signal
import sys
import threading
from typing import Any, Callable, Sequence

import jax

from gan_jax.base.errors import Interrupted
from gan_jax.base.log import warn

# chunk length -> f(state, data) -> (state, metrics); the buffers of `state` are donated.
CompileSteps = Callable[[int], Callable]


class Rewind:
  """Returned by an action to restart the loop from `state` at `step` (a rollback)."""

  def __init__(self, state: Any, step: int):
    self.state, self.step = state, step


class Action:
  """Something the loop does every `every` steps (0: never) and, if `at_end`, after the last.

  In the manner of clu's periodic actions, but the loop also bounds its fused chunks by
  `every`, so that an action sees the state of exactly its step.
  """

  every: int = 0
  at_end: bool = True
  # Whether __call__ receives the device metrics of every call since it last fired.
  wants_metrics: bool = False

  def intervals(self) -> tuple[int, ...]:
    """The intervals the fused chunks must end at for this action to see its steps."""
    return (self.every,)

  def due(self, step: int, done: bool) -> bool:
    return (self.every > 0 and step % self.every == 0) or (done and self.at_end)

  def __call__(self, step: int, state, metrics: list | None) -> Rewind | None:
    raise NotImplementedError

  def reset(self, step: int) -> None:
    """The loop (re)starts at `step`: at its start and after a Rewind."""

  def stopped(self, step: int, state) -> Rewind | None:
    """A stop signal ends the loop at `step` (a checkpoint action saves here); a Rewind hands
    the later actions its state and step instead (a rollback: nothing newer is saved)."""


def next_chunk(step: int, num_steps: int, steps_per_call: int, intervals: Sequence[int]) -> int:
  """Steps to fuse into the next call: up to steps_per_call, ending at num_steps and at the
  next multiple of every positive interval."""
  return min(steps_per_call, num_steps - step, *(n - step % n for n in intervals if n > 0))


def run(
  state,
  step: int,
  *,
  num_steps: int,
  steps_per_call: int,
  compile_steps: CompileSteps,
  train_data: jax.Array,
  actions: Sequence[Action],
  stop: 'StopSignal',
):
  """Trains from `step` to `num_steps`, firing `actions` in order at their steps.

  Args:
    state: the state at `step` (donated to the first call).
    step: the step `state` is at.
    num_steps: where to stop.
    steps_per_call: the most steps fused into one call.
    compile_steps: chunk length -> compiled fused step; called once per distinct length.
    train_data: the training set on the devices, passed to every call.
    actions: fired after each call at which they are due; an action that returns a Rewind
      restarts the loop from its state and step (the later actions of that step do not fire).
    stop: when it has received a signal, the loop ends at the next step boundary, lets every
      action's `stopped` run in order and raises Interrupted.

  Returns:
    The state at num_steps.
  """
  compiled = {}
  intervals = [n for a in actions for n in a.intervals()]
  pending = {i: [] for i, a in enumerate(actions) if a.wants_metrics}
  for action in actions:
    action.reset(step)
  while step < num_steps and stop.received is None:
    chunk = next_chunk(step, num_steps, steps_per_call, intervals)
    if chunk not in compiled:
      compiled[chunk] = compile_steps(chunk)
    state, metrics = compiled[chunk](state, train_data)
    for calls in pending.values():
      calls.append(metrics)
    step += chunk
    done = step == num_steps
    for i, action in enumerate(actions):
      if not action.due(step, done):
        continue
      metrics_since = None
      if i in pending:
        metrics_since, pending[i] = pending[i], []
      rewind = action(step, state, metrics_since)
      if rewind is not None:
        state, step = rewind.state, rewind.step
        for calls in pending.values():
          calls.clear()
        for a in actions:
          a.reset(step)
        break
  if stop.received is not None:
    at = step
    for action in actions:
      rewind = action.stopped(at, state)
      if rewind is not None:
        state, at = rewind.state, rewind.step
    raise Interrupted(stop.received, signal.Signals[stop.received].value, step)
  return state


class StopSignal:
  """Turns SIGTERM/SIGINT into a request to checkpoint and stop at the next step boundary; a
  second one ends the process at once with 128 + the signal."""

  def __init__(self):
    self.received = None

  @contextlib.contextmanager
  def installed(self):
    if jax.process_count() > 1 or threading.current_thread() is not threading.main_thread():
      yield self
      return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
      signal.signal(s, self._handle)
    try:
      yield self
    finally:
      for s, handler in previous.items():
        signal.signal(s, handler)

  def _handle(self, signum, frame):
    del frame
    if self.received is not None:
      # A second signal: stop now, mid-write or not. A checkpoint being written is only ever
      # an orbax temporary directory (removed at the next start) or complete and hashed.
      name = signal.Signals(signum).name
      sys.stderr.write(
        f'error: second {name} while stopping: stopped at once; a checkpoint '
        'being written is discarded, the last complete one is kept; run the '
        'same command to resume\n'
      )
      sys.stderr.flush()
      os._exit(128 + signum)  # pylint: disable=protected-access
    self.received = signal.Signals(signum).name
    warn(f'{self.received} received: checkpointing and stopping at the next step boundary')
