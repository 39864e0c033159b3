"""A lone run: the experiment's state, checkpointer and writers around the one loop.

The loop (gan_jax.loop.loop) only decides when things happen, and its actions
(gan_jax.loop.actions) what; all math is in `steps` (traced) and all I/O in `checkpoint`,
`writers` and `images`. Metrics stay on device until a logging step.
"""

import dataclasses
import functools
import math
import os
from typing import Callable

import jax
import numpy as np

from gan_jax import data
from gan_jax.base import log
from gan_jax.base.config import Config
from gan_jax.base.errors import ConfigError
from gan_jax.game import models
from gan_jax.game.state import GAN, TrainState, build_gan, create_train_state
from gan_jax.loop import actions, loop
from gan_jax.runtime import checkpoint, distributed, parallel, resources, writers
from gan_jax.runtime import workdir as workdir_lib

CONFIG_FILE = 'config.json'
EvalFn = actions.EvalFn
NonFiniteError = actions.NonFiniteError


@dataclasses.dataclass
class Experiment:
  """What a run needs besides its state, built once from the config."""

  config: Config
  gan: GAN
  mesh: jax.sharding.Mesh
  train_images: np.ndarray  # uint8 [N, H, W, C]
  output_bias: np.ndarray | None

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return tuple(self.train_images.shape[1:])

  def init_state(self) -> TrainState:
    """The initial state, built on the devices, replicated."""
    init = jax.jit(
      functools.partial(create_train_state, self.gan, self.config.seed),
      out_shardings=parallel.replicated(self.mesh),
    )
    return init(self.output_bias)


def setup(config: Config, mesh: jax.sharding.Mesh | None = None, *, members: int = 1) -> Experiment:
  """Validates `config` against the devices, the data and the memory (for `members` such
  configs trained as one population), loads the training split."""
  config.validate()
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
  gan = build_gan(config, data_dim=data_dim, num_train=split.num_examples)
  bias = None
  if config.g_output_bias == 'marginals' and gan.output == 'sigmoid':
    bias = models.marginal_logits(data.pixel_means(split.images))
  return Experiment(config, gan, mesh, split.images, bias)


def train_and_evaluate(
  config: Config,
  workdir: str,
  *,
  overwrite: bool = False,
  eval_fn: EvalFn | None = None,
  mesh: jax.sharding.Mesh | None = None,
  compile_steps: Callable | None = None,
) -> TrainState:
  """Trains (or resumes) the experiment `config` in `workdir` up to config.num_steps.

  Args:
    config: the experiment.
    workdir: checkpoints, metrics.jsonl, tensorboard/, samples/ and config.json go here. If it
      holds a checkpoint, training resumes from the newest readable one.
    overwrite: discard a previous run in workdir instead of resuming it (only a directory
      gan_jax wrote as a run: see gan_jax.runtime.workdir).
    eval_fn: called every config.eval_every steps; its scalars are logged with the others.
    mesh: devices to train on (default: every device of every process).
    compile_steps: (gan, mesh, num_steps) -> the compiled fused step, called once per chunk
      length (default parallel.compile_train_steps); a benchmark passes its own to time or
      share the calls.

  Returns:
    The final state.
  """
  exp = setup(config, mesh)
  # Process 0 alone checks, locks and clears; if it cannot, every process stops (none waits
  # forever). A directory gan_jax did not write is never used, --overwrite or not.
  with distributed.primary_context(lambda: workdir_lib.run_directory(workdir, overwrite=overwrite)):
    distributed.barrier('workdir_ready')  # no process reads checkpoints before the clear
    return _train(exp, workdir, eval_fn, compile_steps)


def _train(
  exp: Experiment, workdir: str, eval_fn: EvalFn | None, compile_steps: Callable | None
) -> TrainState:
  config, gan, mesh = exp.config, exp.gan, exp.mesh
  primary = jax.process_index() == 0
  compile_steps = compile_steps or parallel.compile_train_steps  # looked up now: patchable
  state = exp.init_state()
  train_data = parallel.put_replicated(
    exp.train_images.reshape(exp.train_images.shape[0], -1), mesh
  )
  ckpt = checkpoint.Checkpointer(workdir, max_to_keep=config.keep_checkpoints)
  try:  # until the members own it, every failure shuts the checkpointer down itself
    step = 0
    if ckpt.all_steps():
      abstract = checkpoint.abstract_like(state, parallel.replicated(mesh))
      state, _, step = ckpt.restore(abstract, expect=config, quarantine=primary)
      if step > config.num_steps:
        raise ConfigError(
          f'--num_steps={config.num_steps} is below step {step} of the checkpoint '
          f'in --workdir={workdir}; pass --num_steps={step} or more to continue, '
          'or --overwrite to start again'
        )
      log.info(f'resumed from {ckpt.directory}/{step}')
    members = actions.Members(
      [config], [workdir], [ckpt], mesh, stacked=False, failed=[False], primary=primary
    )
    # A workdir whose metrics or tensorboard/ are damaged is refused before any write.
    members.writers = [writers.MetricWriter(workdir, enabled=primary, resume_step=step)]
    if primary:
      writers.write_json(os.path.join(workdir, CONFIG_FILE), config.to_dict())
      # A lone run trains its member whatever an earlier attempt ended in.
      if os.path.exists(os.path.join(workdir, actions.FAILED_FILE)):
        os.remove(os.path.join(workdir, actions.FAILED_FILE))
  except BaseException:
    ckpt.close()
    raise
  line = lambda step, rate, scalars: writers.progress_line(step, config.num_steps, rate, scalars[0])
  log.info(
    f'training {config.dataset} ({exp.train_images.shape[0]} examples) on '
    f'{mesh.size} device(s) [{jax.devices()[0].platform}], steps {step} -> '
    f'{config.num_steps}, workdir {workdir}'
  )
  return run_members(
    members,
    state,
    step,
    gan=gan,
    config=config,
    image_shape=exp.image_shape,
    train_data=train_data,
    eval_fn=eval_fn,
    progress_line=line,
    compile_steps=lambda n: compile_steps(gan, mesh, n),
  )


def run_members(
  members: actions.Members,
  state: TrainState,
  step: int,
  *,
  gan: GAN,
  config: Config,
  image_shape: tuple[int, int, int],
  train_data: jax.Array,
  eval_fn: EvalFn | None,
  progress_line: Callable,
  compile_steps: Callable,
):
  """The one loop with the four periodic actions (log with the non-finite policy, evaluate,
  sample grids, checkpoint), for a lone run or a population's members; closes `members`.

  Args:
    members: the run's members (their configs, workdirs, checkpointers and writers).
    state: the state at `step`, one member's or the members' stacked.
    step: the step `state` is at.
    gan: the game the compiled steps play.
    config: the schedule (num_steps, steps_per_call and the actions' intervals).
    image_shape: of one sample, for the grids.
    train_data: the training images on the devices.
    eval_fn: the evaluation every config.eval_every steps (None: none).
    progress_line: (step, steps/s, {member: scalars}) -> the log line.
    compile_steps: num_steps -> the compiled fused steps.

  Returns:
    The final state.
  """
  policy = actions.NonFinitePolicy(members, config)
  periodic = [
    actions.Log(members, policy, config.log_every, progress_line),
    actions.Evaluate(members, gan, config.eval_every, eval_fn),
    actions.SampleGrid(members, gan, config.sample_every, image_shape),
    actions.Checkpoint(members, policy, config.checkpoint_every),
  ]
  stop = loop.StopSignal()
  with stop.installed():
    try:
      return loop.run(
        state,
        step,
        num_steps=config.num_steps,
        steps_per_call=config.steps_per_call,
        compile_steps=compile_steps,
        train_data=train_data,
        actions=periodic,
        stop=stop,
      )
    finally:
      members.close()
