"""What happens when a member goes non-finite (config.on_nonfinite): an action of its own, ordered
before the others, so that no log, evaluation, grid or checkpoint sees a state it would roll back
or fail."""

from typing import Sequence

import jax
import numpy as np

from gan_jax.base.config import Config
from gan_jax.base.errors import UserError
from gan_jax.base.log import warn
from gan_jax.loop.engine import Action, Rewind
from gan_jax.loop.members import Members

# Rollbacks of one member before it is marked failed.
MAX_ROLLBACKS = 3
_NETS = ('generator', 'discriminator')


class NonFiniteError(UserError):
  """A loss or parameter became NaN or infinite."""


def host_values(calls: Sequence[dict], num: int) -> dict[str, np.ndarray]:
  """The device metrics of some calls as per-step values [num members, steps]."""
  calls = jax.device_get(calls)
  return {k: np.concatenate([np.reshape(m[k], (num, -1)) for m in calls], axis=1) for k in calls[0]}


def first_nonfinite(values: dict[str, np.ndarray]) -> tuple[str, int] | None:
  """The first metric (in order) holding a NaN/inf, and the index of the first such value."""
  for name, v in values.items():
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
      return name, int(bad[0])
  return None


def nonfinite_advice(net: str, config: Config | None, checkpoints: Sequence[int]) -> str:
  """What to do about `net` going non-finite: the flag that most likely drove it (an init scale
  far beyond any recipe, else the net's learning rate) and the kept checkpoint."""
  scales = {'generator': 'g_init_scale', 'discriminator': 'd_init_scale'}
  huge = [s for s in (scales[net], *scales.values()) if config and getattr(config, s) > 1]
  if huge:  # weights beyond U(-1, 1) overflow float32 within a few layers, whatever the rate
    return (
      f'its weights start at up to --{huge[0]}={getattr(config, huge[0])}; train again with a '
      'smaller one (e.g. 0.05) in a new --workdir or with --overwrite'
    )
  flag = '--learning_rate'
  if net == 'discriminator' and config is not None and config.d_learning_rate > 0:
    flag = '--d_learning_rate'  # D's own rate; otherwise --learning_rate drives both nets
  if config is not None:
    flag += f' (now {getattr(config, flag[2:])})'
  if checkpoints:
    return (
      f'the checkpoint of step {max(checkpoints)} is kept: resume from it with a lower '
      f'{flag}, or use --on_nonfinite=rollback'
    )
  return (
    f'no checkpoint was written before it: run again with a lower {flag}, or use a '
    'smaller --checkpoint_every with --on_nonfinite=rollback'
  )


class NonFinitePolicy:
  """config.on_nonfinite, for a lone run and a population alike.

  'stop': the member is marked FAILED (the FAILED file in its workdir says why) and the others
  train on; when no member is left, NonFiniteError (for a lone run: its message, which names
  the step, the net, its learning-rate flag and the checkpoint kept).

  'rollback': every live member is restored from the newest checkpoint they all have (a
  population steps together), and only the members that went non-finite continue with both
  learning rates times config.rollback_lr_factor. The others recompute the same steps from the
  same state, so their runs are as if nothing happened. A member with MAX_ROLLBACKS rollbacks
  behind it, or with no checkpoint to go back to, is handled as under 'stop'.
  """

  def __init__(self, members: Members, config: Config):
    self.members = members
    self.rollback = config.on_nonfinite == 'rollback'
    self.factor = config.rollback_lr_factor
    self.rollbacks = [0] * members.num

  def check(self, step: int, state, values: dict[str, np.ndarray] | None = None) -> Rewind | None:
    """Checks the live members at `step`; returns a Rewind if it rolled back.

    Args:
      step: the current step.
      state: the state after `step`.
      values: per-step metrics [M, T] of the last T steps up to `step`, if any.

    Raises:
      NonFiniteError: no member is left.
    """
    members = self.members
    if not members.live():  # a population resumed with every member failed
      self._raise_if_none_left(step)
    bad = {}  # member -> (what happened, the net)
    for i in members.live():
      found = first_nonfinite({k: v[i] for k, v in (values or {}).items()})
      if found:
        name, index = found
        at = step - values[name].shape[1] + 1 + index
        net = 'discriminator' if name.startswith('d_') else 'generator'
        bad[i] = (f'{name} ({net}) became {values[name][i, index]} at step {at}', net)
    if len(bad) < len(members.live()):
      finite = members.layout.nets_finite(state)
      for i in members.live():
        if i not in bad and not finite[i].all():
          net = _NETS[int(np.argmin(finite[i]))]
          bad[i] = (f"the {net}'s parameters became NaN/inf by step {step}", net)
    if not bad:
      return None
    messages = {}
    for i, (what, net) in bad.items():
      ckpt_steps = members.ckpts[i].all_steps()
      messages[i] = f'{what}; {nonfinite_advice(net, members.configs[i], ckpt_steps)}'
      if not self.rollback or self.rollbacks[i] == MAX_ROLLBACKS:
        self._fail(i, messages[i], step)
    back = [i for i in bad if not members.failed[i]]
    if back:
      members.wait()  # a write in flight may be the checkpoint to go back to
      to = members.newest_common_step()
      if not to:
        for i in back:
          self._fail(i, f'{messages[i]}; no checkpoint to roll back to', step)
        return None
      state = members.restore(state, to, scale=back, factor=self.factor)
      for i in back:
        self.rollbacks[i] += 1
        who = f'member {members.workdirs[i]}: ' if members.num > 1 else ''
        warn(f'{who}{messages[i]}: rolled back to step {to} with learning rates x{self.factor}')
      for i in members.live():
        members.writers[i].truncate_after(to)
      return Rewind(state, to)
    return None

  def _fail(self, i: int, message: str, step: int) -> None:
    self.members.fail(i, message)
    self._raise_if_none_left(step, message)

  def _raise_if_none_left(self, step: int, message: str = '') -> None:
    if self.members.live():
      return
    if self.members.num == 1 and message:
      raise NonFiniteError(message)
    raise NonFiniteError(
      f'every member of the population became non-finite by step {step}; lower the learning rates'
    )


class CheckFinite(Action):
  """The non-finite policy, before the actions that log or save a state.

  At a log step (every `log_every`, and the last) it reads the losses of every step since the
  previous log and the parameters; at a checkpoint step (every `checkpoint_every`, and when
  stopped) the parameters alone, so that no checkpoint holds a NaN. The losses are read from
  the devices once per log step: the log takes them from here (`losses`).
  """

  wants_metrics = True

  def __init__(
    self, policy: NonFinitePolicy, *, num_steps: int, log_every: int, checkpoint_every: int
  ):
    self.policy, self.num_steps = policy, num_steps
    self.log_every, self.checkpoint_every = log_every, checkpoint_every
    self._calls = []
    self.losses = None  # per-step values [M, T] read at the last log step

  def intervals(self):
    return (self.log_every, self.checkpoint_every)

  def due(self, step, done):
    return done or any(n > 0 and step % n == 0 for n in self.intervals())

  def reset(self, step):
    self._calls = []

  def __call__(self, step, state, metrics):
    self._calls.extend(metrics)
    if step == self.num_steps or (self.log_every > 0 and step % self.log_every == 0):
      self.losses = host_values(self._calls, self.policy.members.num)
      self._calls = []
      return self.policy.check(step, state, self.losses)
    return self.policy.check(step, state)

  def stopped(self, step, state):
    return self.policy.check(step, state)
