"""A lone run: one member, its state a plain TrainState, over the shared assembly
(gan_jax.loop.assembly) and the one loop (gan_jax.loop.engine)."""

from typing import Callable

import jax

from gan_jax.base import log
from gan_jax.base.config import Config
from gan_jax.game.state import TrainState
from gan_jax.loop import assembly
from gan_jax.loop.members import Lone
from gan_jax.runtime import parallel, sampling, writers


def train_and_evaluate(
  config: Config,
  workdir: str,
  *,
  overwrite: bool = False,
  eval_fn: sampling.EvalFn | None = None,
  mesh: jax.sharding.Mesh | None = None,
  compile_steps: Callable | None = None,
) -> TrainState:
  """Trains (or resumes) the experiment `config` in `workdir` up to config.num_steps.

  Args:
    config: the experiment.
    workdir: the run directory (gan_jax.runtime.rundir). If it holds a checkpoint, training
      resumes from the newest readable one.
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
  exp = assembly.setup(config, mesh)
  compile_steps = compile_steps or parallel.compile_train_steps  # looked up now: patchable
  with assembly.claimed([workdir], overwrite=overwrite):
    members, state, step = assembly.open_members(
      [config], [workdir], Lone(exp.mesh), exp.init_state(), retry_failed=True
    )
    log.info(
      f'training {config.dataset} ({exp.num_train} examples) on '
      f'{exp.mesh.size} device(s) [{jax.devices()[0].platform}], steps {step} -> '
      f'{config.num_steps}, workdir {workdir}'
    )
    return assembly.train_members(
      members,
      state,
      step,
      exp=exp,
      gan=exp.gan,
      eval_fn=eval_fn,
      progress_line=lambda step, rate, scalars: writers.progress_line(
        step, config.num_steps, rate, scalars[0]
      ),
      compile_steps=lambda n: compile_steps(exp.gan, exp.mesh, n),
    )
