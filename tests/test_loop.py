"""The loop engine on a fake compiled step: chunk bounds, action order, rewind, the stop signal;
and how the members' files close.

No networks and no compilation: the "state" is the number of steps taken and a call of n fused
steps returns that number plus n, with metrics naming the steps it took.
"""

import numpy as np
import pytest

from gan_jax.base.errors import Interrupted
from gan_jax.loop import actions, engine, finite
from gan_jax.loop import members as members_lib
from gan_jax.loop.engine import Action, Rewind


class FakeSteps:
  """compile_steps: n -> a call that advances the state by n; records compiles and calls."""

  def __init__(self):
    self.compiled, self.calls = [], []

  def __call__(self, n):
    self.compiled.append(n)

    def call(state, data):
      assert data == 'data'
      self.calls.append(n)
      return state + n, {'step': np.arange(state + 1, state + n + 1)}

    return call


class Recorder(Action):
  """Records (name, step, state, metrics) into a shared list; may answer with a Rewind."""

  def __init__(self, name, every, log, *, at_end=True, wants_metrics=False, answer=None):
    self.name, self.every, self.log = name, every, log
    self.at_end, self.wants_metrics = at_end, wants_metrics
    self.answer = answer or {}  # step -> what to return there (once)
    self.resets = []

  def reset(self, step):
    self.resets.append(step)

  def __call__(self, step, state, metrics):
    steps = None if metrics is None else [int(s) for m in metrics for s in m['step']]
    self.log.append((self.name, step, state, steps))
    return self.answer.pop(step, None)


class NoStop:
  received = None


def _run(actions, *, num_steps=20, steps_per_call=100, start=0, stop=None, fake=None):
  fake = fake or FakeSteps()
  state = engine.run(
    start,
    start,
    num_steps=num_steps,
    steps_per_call=steps_per_call,
    compile_steps=fake,
    train_data='data',
    actions=actions,
    stop=stop or NoStop(),
  )
  return state, fake


def test_next_chunk_ends_at_every_interval_and_at_the_last_step():
  assert engine.next_chunk(0, 100, 50, [30]) == 30
  assert engine.next_chunk(30, 100, 50, [30, 0]) == 30  # 0: never, no bound
  assert engine.next_chunk(59, 100, 50, [30, 7]) == 1  # 60 is a multiple of 30
  assert engine.next_chunk(95, 100, 50, [30]) == 5  # the last step
  assert engine.next_chunk(0, 100, 8, [30]) == 8  # steps_per_call
  assert engine.next_chunk(0, 100, 8, []) == 8


def test_chunks_fuse_up_to_steps_per_call_and_compile_once_per_length():
  log = []
  state, fake = _run([Recorder('a', 6, log), Recorder('b', 10, log)], steps_per_call=4)
  assert state == 20
  assert fake.calls == [4, 2, 4, 2, 4, 2, 2]  # each call ends at 6, 10, 12, 18 or 20 at the latest
  assert sorted(fake.compiled) == [2, 4]
  assert [(name, step) for name, step, *_ in log] == [
    ('a', 6),
    ('b', 10),
    ('a', 12),
    ('a', 18),
    ('a', 20),  # the last step: each fires once, in order
    ('b', 20),
  ]


def test_actions_fire_in_their_order_at_their_steps_and_see_that_steps_state():
  log = []
  actions = [
    Recorder('first', 5, log),
    Recorder('second', 10, log),
    Recorder('not_at_end', 4, log, at_end=False),
    Recorder('never', 0, log),
  ]
  state, _ = _run(actions, num_steps=10)
  assert state == 10
  assert [(name, step, seen) for name, step, seen, _ in log] == [
    ('not_at_end', 4, 4),
    ('first', 5, 5),
    ('not_at_end', 8, 8),
    ('first', 10, 10),
    ('second', 10, 10),
    ('never', 10, 10),  # every=0 never fires periodically, but at the end
  ]


def test_metrics_reach_an_action_once_each_since_it_last_fired():
  log = []
  actions = [Recorder('log', 6, log, wants_metrics=True), Recorder('other', 4, log)]
  _run(actions, num_steps=14, steps_per_call=3)
  by_name = {}
  for name, step, _, steps in log:
    by_name.setdefault(name, []).append((step, steps))
  assert by_name['log'] == [(6, [1, 2, 3, 4, 5, 6]), (12, list(range(7, 13))), (14, [13, 14])]
  assert all(steps is None for _, steps in by_name['other'])


def test_a_rewind_restarts_from_its_state_and_skips_the_later_actions_of_that_step():
  log = []
  rewinder = Recorder('check', 5, log, wants_metrics=True, answer={10: Rewind(100, 5)})
  saver = Recorder('save', 5, log)
  state, fake = _run([rewinder, saver], num_steps=15)
  # At step 10 the check rolled back to step 5 (state 100): 'save' did not see step 10, and the
  # loop ran steps 6..15 again from the rewound state.
  assert [(name, step, seen) for name, step, seen, _ in log] == [
    ('check', 5, 5),
    ('save', 5, 5),
    ('check', 10, 10),
    ('check', 10, 105),
    ('save', 10, 105),
    ('check', 15, 110),
    ('save', 15, 110),
  ]
  assert state == 110 and fake.calls == [5, 5, 5, 5]
  assert rewinder.resets == saver.resets == [0, 5]
  # The metrics before the rewind are dropped: after it, the check sees the steps it reran.
  steps = [s for name, step, seen, s in log if name == 'check']
  assert steps[1:3] == [list(range(6, 11)), list(range(101, 106))]


class Stopper(Action):
  """Receives a "signal" when it fires at `at`; records `stopped` calls."""

  def __init__(self, stop, at, log, *, every=1, answer=None):
    self.stop, self.at, self.log, self.every, self.answer = stop, at, log, every, answer

  def __call__(self, step, state, metrics):
    if step == self.at:
      self.stop.received = 'SIGTERM'
    return None

  def stopped(self, step, state):
    self.log.append(('stopped', type(self).__name__, step, state))
    return self.answer


class Saver(Stopper):
  pass


def test_a_stop_signal_ends_the_loop_at_the_step_boundary_and_every_action_sees_it():
  stop, log = engine.StopSignal(), []
  actions = [Stopper(stop, 7, log, every=1), Saver(stop, -1, log, every=5)]
  with pytest.raises(Interrupted, match='stopped by SIGTERM at step 7') as error:
    _run(actions, num_steps=20, steps_per_call=3, stop=stop)
  assert error.value.exit_code == 128 + 15
  assert log == [('stopped', 'Stopper', 7, 7), ('stopped', 'Saver', 7, 7)]


def test_a_rewind_while_stopping_reaches_the_later_actions():
  stop, log = engine.StopSignal(), []
  actions = [Stopper(stop, 7, log, answer=Rewind(50, 5)), Saver(stop, -1, log, every=5)]
  with pytest.raises(Interrupted, match='at step 7'):
    _run(actions, num_steps=20, stop=stop)
  assert log == [('stopped', 'Stopper', 7, 7), ('stopped', 'Saver', 5, 50)]


def test_a_signal_before_the_first_call_runs_nothing():
  stop, log = engine.StopSignal(), []
  stop.received = 'SIGINT'
  fake = FakeSteps()
  with pytest.raises(Interrupted, match='SIGINT at step 3'):
    _run([Saver(stop, -1, log, every=5)], start=3, stop=stop, fake=fake)
  assert fake.calls == [] and log == [('stopped', 'Saver', 3, 3)]


class FakePolicy:
  """NonFinitePolicy's interface: records what each check was given."""

  def __init__(self, num):
    self.members = type('M', (), {'num': num})()
    self.checks = []

  def check(self, step, state, values=None):
    self.checks.append(
      (step, None if values is None else {k: v.tolist() for k, v in values.items()})
    )
    return None


def test_the_nonfinite_check_reads_losses_at_log_steps_and_parameters_at_checkpoints():
  policy = FakePolicy(num=1)
  check = finite.CheckFinite(policy, num_steps=14, log_every=6, checkpoint_every=4)
  log = []
  _run([check, Recorder('log', 6, log)], num_steps=14, steps_per_call=100)
  assert policy.checks == [
    (4, None),  # a checkpoint step: the parameters alone
    (6, {'step': [[1, 2, 3, 4, 5, 6]]}),  # a log step: every loss since the last log
    (8, None),
    (12, {'step': [list(range(7, 13))]}),
    (14, {'step': [[13, 14]]}),  # the last step logs
  ]
  assert check.losses['step'].tolist() == [[13, 14]]  # what the log after it reports
  assert check.stopped(9, 'state') is None and policy.checks[-1] == (9, None)


# ------------------------------------------------------------------------- closing the members


class FakeFile:
  """A checkpointer or metric writer whose wait/close record the call and may fail."""

  def __init__(self, name, calls, fails=()):
    self.name, self.calls, self.fails = name, calls, fails

  def _do(self, what):
    self.calls.append(f'{self.name}.{what}')
    if what in self.fails:
      raise OSError(28, f'No space left on device ({self.name}.{what})')

  def wait(self):
    self._do('wait')

  def close(self):
    self._do('close')

  def all_steps(self):
    return []

  def save(self, step, state, config):
    del state, config
    self._do(f'save {step}')


class FakeLayout:
  def take(self, state, i):
    return state[i]


def _members(calls, ckpt_fails=(), writer_fails=()):
  members = members_lib.Members(
    [None, None], ['a', 'b'],
    [FakeFile('ckpt0', calls, ckpt_fails), FakeFile('ckpt1', calls)],
    layout=FakeLayout(), failed=[False, False], primary=True,
  )  # fmt: skip
  members.writers = [FakeFile('writer0', calls, writer_fails), FakeFile('writer1', calls)]
  return members


EVERY_CLOSE = [
  'ckpt0.wait', 'ckpt0.close', 'ckpt1.wait', 'ckpt1.close', 'writer0.close', 'writer1.close'
]  # fmt: skip


def test_closing_the_members_closes_every_file_and_raises_the_first_failure():
  calls = []
  members = _members(calls, ckpt_fails=('wait',), writer_fails=('close',))
  with pytest.raises(OSError, match=r'ckpt0\.wait'):
    members.close()
  assert calls == EVERY_CLOSE


def test_closing_after_an_error_closes_every_file_and_leaves_that_error_to_be_reported():
  """A full disk fails the checkpoint, then the writers' flush at close: the checkpoint's error
  (which names the directory and says what survived) is the one the user must see."""
  calls = []
  members = _members(calls, ckpt_fails=('close',), writer_fails=('close',))
  members.close(after_error=True)
  assert calls == EVERY_CLOSE
  calls.clear()
  _members(calls, ckpt_fails=(), writer_fails=()).close()
  assert calls == EVERY_CLOSE


def test_a_population_commits_every_earlier_checkpoint_before_writing_a_new_one():
  calls = []
  actions.Checkpoint(_members(calls), every=10)(20, ['s0', 's1'], None)
  assert calls == ['ckpt0.wait', 'ckpt1.wait', 'ckpt0.save 20', 'ckpt1.save 20']
