"""What a lone run and a population share around the loop: the experiment's setup, the claimed
workdirs, the members opened (or resumed) in them, the data on the devices, and the actions.

gan_jax.loop.lone and gan_jax.loop.population are two thin adapters over this: they differ in
the state (one TrainState, or M stacked) and its layout, and the compiled step.
"""

import contextlib
import dataclasses
import functools
import math
import os
from typing import Callable, Sequence

import jax
import numpy as np

from gan_jax import data
from gan_jax.base import files
from gan_jax.base.config import Config
from gan_jax.base.errors import ConfigError
from gan_jax.game import models
from gan_jax.game.state import GAN, TrainState, build_gan, create_train_state
from gan_jax.loop import actions, engine, finite
from gan_jax.loop.members import Layout, Members
from gan_jax.runtime import checkpoint, distributed, parallel, resources, rundir, sampling, writers
from gan_jax.runtime import workdir as workdir_lib


@dataclasses.dataclass
class Experiment:
  """What a run needs besides its state, built once from the config."""

  config: Config
  gan: GAN
  mesh: jax.sharding.Mesh
  train_images: np.ndarray  # uint8 [N, H, W, C]
  output_bias: np.ndarray | None
  train_labels: np.ndarray | None = None  # int32 [N]
  class_mix: np.ndarray | None = None  # a conditional model's class prior, [num_classes]

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return tuple(self.train_images.shape[1:])

  @property
  def num_train(self) -> int:
    return self.train_images.shape[0]

  def init_state(self) -> TrainState:
    """The initial state, built on the devices, replicated."""
    init = jax.jit(
      functools.partial(create_train_state, self.gan, self.config.seed),
      out_shardings=parallel.replicated(self.mesh),
    )
    return init(self.output_bias, self.class_mix)

  def train_data(self):
    """The training split on every device, as the fused step reads it: the flat images, uint8
    [N, data_dim], and for a conditional model (the images, the labels int32 [N])."""
    images = parallel.put_replicated(self.train_images.reshape(self.num_train, -1), self.mesh)
    if self.class_mix is None:
      return images
    return images, parallel.put_replicated(self.train_labels, self.mesh)


def setup(config: Config, mesh: jax.sharding.Mesh | None = None, *, members: int = 1) -> Experiment:
  """Validates `config` against the devices, the data and the memory (for `members` such
  configs trained as one population), loads the training split."""
  mesh = parallel.make_mesh() if mesh is None else mesh
  parallel.check_batch_size(config.batch_size, mesh)
  # Process 0 prepares a data set on first use, then the others read it: processes sharing a
  # disk must not prepare it at the same time.
  with distributed.primary_first():
    split = data.load_split(
      config.dataset,
      'train',
      data_dir=config.data_dir or None,
      manual_dir=config.manual_dir or None,
    )
  if split.num_examples < config.batch_size:
    raise ConfigError(
      f'--batch_size={config.batch_size} is larger than the training split '
      f'of {config.dataset} ({split.num_examples} examples); use a smaller one'
    )
  data_dim = math.prod(split.images.shape[1:])
  resources.check_training(config, data_dim, split.num_examples, members)  # before allocating
  classes = data.num_classes(config.dataset)
  gan = build_gan(config, data_dim=data_dim, num_train=split.num_examples, num_classes=classes)
  bias = None
  if config.g_output_bias == 'marginals' and gan.output == 'sigmoid':
    bias = models.marginal_logits(data.pixel_means(split.images))
  mix = data.class_mix(split.labels, classes) if gan.conditional else None
  return Experiment(config, gan, mesh, split.images, bias, split.labels, mix)


@contextlib.contextmanager
def claimed(workdirs: Sequence[str], *, overwrite: bool):
  """Holds every workdir for the run: process 0 checks all of them before it clears any, locks
  them and (`overwrite`) clears their previous outputs; if it cannot, every process stops (none
  waits forever). A directory gan_jax did not write is never used, --overwrite or not."""

  def claim_all() -> contextlib.ExitStack:
    for workdir in workdirs:
      workdir_lib.check(workdir, (workdir_lib.RUN,))
    with contextlib.ExitStack() as stack:
      for workdir in workdirs:
        stack.enter_context(workdir_lib.run_directory(workdir, overwrite=overwrite))
      return stack.pop_all()

  with distributed.primary_context(claim_all):
    distributed.barrier('workdirs_ready')  # no process reads checkpoints before the clear
    yield


def open_members(
  configs: Sequence[Config],
  workdirs: Sequence[str],
  layout: Layout,
  state,
  *,
  retry_failed: bool,
) -> tuple[Members, object, int]:
  """The members in their claimed workdirs, resumed where they have checkpoints.

  Args:
    configs, workdirs: one per member.
    layout: how the members' states sit in `state`.
    state: the initial state, in `layout`.
    retry_failed: train members marked FAILED again (a lone run: whatever an earlier attempt
      ended in); otherwise they stay left out.

  Returns:
    (the members, owning their checkpointers and writers; the state to start from; its step).
  """
  primary = distributed.is_primary()
  failed = [not retry_failed and rundir.failed(w) for w in workdirs]
  ckpts = [
    checkpoint.Checkpointer(w, max_to_keep=c.keep_checkpoints) for w, c in zip(workdirs, configs)
  ]
  members = Members(configs, workdirs, ckpts, layout, failed=failed, primary=primary)
  try:  # until the loop owns them, every failure shuts the checkpointers down here
    state, step = members.resume(state, quarantine=primary)
    num_steps = configs[0].num_steps
    if step > num_steps:
      where = f'--workdir={workdirs[0]}' if members.num == 1 else "the members' workdirs"
      raise ConfigError(
        f'--num_steps={num_steps} is below step {step} of the checkpoint in {where}; pass '
        f'--num_steps={step} or more to continue, or --overwrite to start again'
      )
    # A workdir whose metrics or tensorboard/ are damaged is refused before any write.
    members.writers = [
      writers.MetricWriter(w, enabled=primary and not f, resume_step=step)
      for w, f in zip(workdirs, failed)
    ]
    if primary:
      for workdir, config in zip(workdirs, configs):
        files.write_json(rundir.config_path(workdir), config.to_dict())
        if retry_failed and rundir.failed(workdir):
          os.remove(rundir.failed_path(workdir))
  except BaseException:
    members.close(after_error=True)
    raise
  return members, state, step


def train_members(
  members: Members,
  state,
  step: int,
  *,
  exp: Experiment,
  gan: GAN,
  eval_fn: sampling.EvalFn | None,
  progress_line: Callable,
  compile_steps: engine.CompileSteps,
):
  """The one loop with its periodic actions, in order: the non-finite policy, log, evaluate,
  sample grids, checkpoint; closes `members`.

  Args:
    members: the run's members (their configs, workdirs, checkpointers and writers).
    state: the state at `step`, in `members.layout`.
    step: the step `state` is at.
    exp: the experiment (its config is the schedule: num_steps, steps_per_call, intervals).
    gan: the game the compiled steps play.
    eval_fn: the evaluation every config.eval_every steps (None: none).
    progress_line: (step, steps/s, {member: scalars}) -> the log line.
    compile_steps: num_steps -> the compiled fused steps.

  Returns:
    The final state.
  """
  config = exp.config
  try:
    check = finite.CheckFinite(
      finite.NonFinitePolicy(members, config),
      num_steps=config.num_steps,
      log_every=config.log_every,
      checkpoint_every=config.checkpoint_every,
    )
    periodic = [
      check,
      actions.Log(members, check, config.log_every, progress_line),
      actions.Evaluate(members, gan, config.eval_every, eval_fn),
      actions.SampleGrid(members, gan, config.sample_every, exp.image_shape),
      actions.Checkpoint(members, config.checkpoint_every),
    ]
    train_data = exp.train_data()
    stop = engine.StopSignal()
    with stop.installed():
      state = engine.run(
        state,
        step,
        num_steps=config.num_steps,
        steps_per_call=config.steps_per_call,
        compile_steps=compile_steps,
        train_data=train_data,
        actions=periodic,
        stop=stop,
      )
  except BaseException:
    members.close(after_error=True)
    raise
  members.close()
  return state
