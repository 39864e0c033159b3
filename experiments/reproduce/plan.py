"""What `make reproduce` runs: every training run, evaluation and figure behind RESULTS.md.

Pure data: budgets (how many steps each part gets) and the runs they expand to. The driver
(`driver.py`) executes a plan and resumes it; the report (`report.py`) reads what it wrote.

Steps were sized from the speed measured on this project's 2-core machines: the paper's MNIST
model trains at 17 steps/s on slow days' cores and at 54 steps/s on others (a lone run; a
vmapped population of 3 ran at 8.5 x 3 on the same cores, so on a CPU the seeds train one after
another); an evaluation of 10,000 samples against validation images takes 10-20 s. The standard
budget took 1h17m of steps on a 54-steps/s day (RESULTS.md's last section), the Table 1 runs (the
paper recipe with its average, then the fast recipe) taking the largest share; on a 17-steps/s
day it needs about 3 hours.
"""

import dataclasses
import os

CONFIGS = os.path.join('experiments', 'configs')
MNIST_FLAGS = os.path.join(CONFIGS, 'mnist_paper.flags')
FASHION_FLAGS = os.path.join(CONFIGS, 'fashion_mnist_paper.flags')
QUICKSTART_FLAGS = os.path.join(CONFIGS, 'mnist_5k.flags')
FAST_FLAGS = os.path.join(CONFIGS, 'mnist_fast.flags')
CGAN_FLAGS = os.path.join(CONFIGS, 'mnist_cgan.flags')
CGAN_FASHION_FLAGS = os.path.join(CONFIGS, 'fashion_mnist_cgan.flags')
SWEEP_FILE = os.path.join('experiments', 'sweeps', 'fast_recipe.py')
# The quick-start run (mnist_5k) is scored against full MNIST's validation images, as the
# Table 1 runs are.
QUICKSTART_EVAL_DATASET = 'mnist'
# Steps of each fast-recipe seed (mnist_fast.flags' --num_steps), for the standard and full
# budgets alike: the recipe is defined by its length.
FAST_STEPS = 30_000

# Table 1 (MNIST column) of the paper: log-likelihood in nats, ± standard error.
PAPER_TABLE1 = (
  ('DBN', 138, 2),
  ('Stacked CAE', 121, 1.6),
  ('Deep GSN', 214, 1.1),
  ('Adversarial nets', 225, 2),
)
PAPER_GAN_LL = 225
# Later numbers by the same protocol on MNIST (Theis, van den Oord & Bethge 2016, Table 2;
# Makhzani et al. 2015): where the project stands beyond the paper.
BEYOND_PAPER = (
  ('GMMN + AE (Li et al. 2015)', 282, None),
  ('adversarial autoencoders (Makhzani et al. 2015)', 340, 2),
  ('k-means, 10,000 centroids: blurred prototypes (Theis et al. 2016)', 313, None),
)
# Table 1's paper-recipe runs keep an average of G beside the recipe's own G. The average never
# feeds back into training (tests/test_average.py: G and D are bit-identical with and without
# it), so one training gives two rows: the paper recipe (its raw G) and the paper recipe with
# averaging. Decay 0.9999 with the warm-up min(d, (1 + t) / (10 + t)) (--g_ema_warmup's default).
TABLE1_AVERAGE = (('g_ema_decay', 0.9999),)
# Beyond the paper: the conditional GAN of its section 7 (Mirza & Osindero 2014's networks and
# recipe, experiments/configs/mnist_cgan.flags), their Parzen estimate by the same protocol, and
# the targets its runs are held to (conditional accuracy per data set).
MIRZA_OSINDERO_LL = (132, 1.8)
CGAN_ACCURACY_TARGETS = (('mnist', 0.95), ('fashion_mnist', 0.85))
# Steps of each conditional run: their recipe is defined here by its length, as the fast one.
CGAN_STEPS = 30_000
# The conditional runs are evaluated every this many steps (each evaluation scores G and its
# average): fewer than Table 1's curves, which is what keeps a 30k-step run near 15 minutes.
CGAN_EVAL_EVERY = 5_000
# The parts of a reproduction, in the order the driver runs them.
PARTS = (
  'table1',
  'table1_fast',
  'fashion',
  'sweep',
  'toy1d',
  'quickstart',
  'ablations',
  'cgan',
  'cgan_fashion',
  'cgan_concat',
)

# The ablations of the original recipe, each one change (flags) at equal steps. The baseline,
# the recipe itself, is the Table 1 runs at the same step.
ABLATIONS = (
  (
    'alternating_k1',
    'Algorithm 1, k = 1 (alternating D then G)',
    {'update': 'alternating', 'd_steps': 1},
  ),
  ('alternating_k2', 'Algorithm 1, k = 2', {'update': 'alternating', 'd_steps': 2}),
  ('minimax', 'minimax G loss, log(1 - D(G(z)))', {'g_loss': 'minimax'}),
  ('normal_noise', 'z ~ N(0, 1) instead of uniform', {'noise_prior': 'normal'}),
)


@dataclasses.dataclass(frozen=True)
class Budget:
  """Steps per part of the reproduction; every eval_every must divide the steps it evaluates.

  Attributes:
    name: quick, standard or full.
    mnist_steps: Table 1 runs (the paper recipe on full MNIST), per seed.
    fast_steps: Table 1's fast recipe (experiments/configs/mnist_fast.flags), per seed.
    cgan_steps: each conditional run (cgan: mnist_cgan.flags, per seed; cgan_fashion: its
      Fashion-MNIST twin, the first seed; cgan_concat: the paper's nets conditioned by
      concatenation, per seed), evaluated every cgan_eval_every steps.
    fashion_steps: the same recipe on Fashion-MNIST, per seed.
    ablation_steps: each ablation run; also the step at which the baseline is read.
    sweep_steps: each member of the recipe sweep.
    quickstart_steps: `make train`'s recipe on mnist_5k, compared at equal steps (so equal
      time: same networks) with the Table 1 runs on full MNIST.
    eval_every: validation evaluation (and a kept checkpoint) every this many steps.
    eval_num_samples: samples per evaluation (the paper's protocol: 10,000).
    seeds: seeds of the Table 1 and Fashion-MNIST runs.
    ablation_seeds: seeds of each ablation (the first of `seeds`).
    toy1d: (experiment, its flags) of experiments.toy1d: Figure 1 and the theory numbers.
    populations: train the seeds of each part as one vmapped population (experiments.sweep)
      instead of one run after another: on an accelerator the paper's small networks leave
      most of the chip idle, so a population of seeds costs little more than one run; on 2 CPU
      cores it saves only the compilations (measured 1.3x on 8 seeds, all of it compile time).
    parts: which parts run (PARTS, in that order).
  """

  name: str
  mnist_steps: int
  fashion_steps: int
  ablation_steps: int
  sweep_steps: int
  quickstart_steps: int
  eval_every: int
  eval_num_samples: int = 10_000
  seeds: tuple[int, ...] = (0, 1, 2)
  ablation_seeds: tuple[int, ...] = (0, 1)
  toy1d: tuple[tuple[str, tuple[str, ...]], ...] = (('figure1', ()), ('theory', ()))
  populations: bool = False
  fast_steps: int = 0
  parts: tuple[str, ...] = PARTS
  cgan_steps: int = 0
  cgan_eval_every: int = CGAN_EVAL_EVERY

  def __post_init__(self):
    unknown = set(self.parts) - set(PARTS)
    if unknown:
      raise ValueError(f'{self.name}: unknown parts {sorted(unknown)}; parts are {PARTS}')
    for name in (
      'mnist_steps',
      'fast_steps',
      'fashion_steps',
      'ablation_steps',
      'sweep_steps',
      'quickstart_steps',
    ):
      if getattr(self, name) % self.eval_every:
        raise ValueError(f'{self.name}: eval_every={self.eval_every} must divide {name}')
    if self.cgan_steps % self.cgan_eval_every:
      raise ValueError(f'{self.name}: cgan_eval_every must divide cgan_steps')
    if self.ablation_steps > self.mnist_steps:
      raise ValueError(
        f'{self.name}: the ablation baseline is read from the Table 1 runs, so '
        'ablation_steps must be <= mnist_steps'
      )
    if max(self.sweep_steps, self.quickstart_steps) > self.mnist_steps or not set(
      self.ablation_seeds
    ) <= set(self.seeds):
      raise ValueError(
        f'{self.name}: the sweep and ablation baselines come from the Table 1 '
        'runs: sweep_steps, quickstart_steps <= mnist_steps and '
        'ablation_seeds within seeds'
      )


BUDGETS = {
  # The same pipeline in minutes, to check it end to end; its numbers mean little.
  'quick': Budget(
    'quick',
    mnist_steps=600,
    fashion_steps=200,
    ablation_steps=200,
    sweep_steps=200,
    quickstart_steps=200,
    fast_steps=400,
    cgan_steps=400,
    cgan_eval_every=200,
    eval_every=200,
    eval_num_samples=2000,
    toy1d=tuple((e, ('--num_steps=1500', '--d_fit_steps=300')) for e in ('figure1', 'theory')),
  ),
  # What RESULTS.md was made with, on this 2-core machine, in under 2 hours.
  'standard': Budget(
    'standard',
    mnist_steps=10_500,
    fashion_steps=3_000,
    ablation_steps=3_000,
    sweep_steps=3_000,
    quickstart_steps=4_500,
    fast_steps=FAST_STEPS,
    cgan_steps=CGAN_STEPS,
    eval_every=1_500,
  ),
  # The paper's length: the momentum ramp ends at epoch 250 (125k steps); for a GPU.
  'full': Budget(
    'full',
    mnist_steps=150_000,
    fashion_steps=50_000,
    ablation_steps=25_000,
    sweep_steps=25_000,
    quickstart_steps=10_000,
    eval_every=5_000,
    seeds=(0, 1, 2),
    ablation_seeds=(0, 1, 2),
    populations=True,
    fast_steps=FAST_STEPS,
    cgan_steps=CGAN_STEPS,
  ),
  # make gpu-check: Table 1's paper recipe alone at the full budget's length, its seeds as one
  # population, in minutes on one GPU (experiments/reproduce/gpu_check.sh).
  'gpu': Budget(
    'gpu',
    mnist_steps=150_000,
    fashion_steps=0,
    ablation_steps=0,
    sweep_steps=0,
    quickstart_steps=0,
    eval_every=10_000,
    cgan_eval_every=10_000,
    populations=True,
    parts=('table1',),
  ),
}


@dataclasses.dataclass(frozen=True)
class Run:
  """One training run of `python -m experiments.train`.

  Attributes:
    name: its directory under the reproduction's runs directory.
    part: 'table1', 'fashion' or 'ablation/<name>'.
    flagfile: the recipe.
    seed: --seed.
    num_steps: --num_steps.
    overrides: further flags, {name: value}.
    eval_every: its evaluation interval (0: the budget's eval_every).
  """

  name: str
  part: str
  flagfile: str
  seed: int
  num_steps: int
  overrides: tuple[tuple[str, object], ...] = ()
  eval_every: int = 0

  def flags(self, budget: Budget) -> list[str]:
    if self.part == 'quickstart':  # evaluated once, at the end, against full MNIST
      return [
        f'--flagfile={self.flagfile}',
        f'--seed={self.seed}',
        f'--num_steps={self.num_steps}',
        f'--checkpoint_every={self.num_steps}',
        f'--sample_every={self.num_steps}',
      ]
    every = self.eval_every or budget.eval_every
    keep = self.num_steps // every + 1
    return [
      f'--flagfile={self.flagfile}',
      f'--seed={self.seed}',
      f'--num_steps={self.num_steps}',
      f'--eval_every={every}',
      '--eval_against=validation',
      f'--eval_num_samples={budget.eval_num_samples}',
      # Every evaluated step keeps its checkpoint, so the one chosen on validation can be
      # restored and scored once on test.
      f'--checkpoint_every={every}',
      f'--keep_checkpoints={keep}',
      f'--sample_every={every}',
      f'--log_every={min(500, every)}',
      *(f'--{k}={v}' for k, v in self.overrides),
    ]


def runs(budget: Budget) -> list[Run]:
  """Every training run of the budget, in the order the driver trains them."""
  out = [
    Run(f'table1/seed_{s}', 'table1', MNIST_FLAGS, s, budget.mnist_steps, TABLE1_AVERAGE)
    for s in budget.seeds
  ]
  out += [
    Run(f'table1_fast/seed_{s}', 'table1_fast', FAST_FLAGS, s, budget.fast_steps)
    for s in budget.seeds
  ]
  out += [
    Run(f'fashion/seed_{s}', 'fashion', FASHION_FLAGS, s, budget.fashion_steps)
    for s in budget.seeds
  ]
  for name, _, overrides in ABLATIONS:
    out += [
      Run(
        f'ablations/{name}/seed_{s}',
        f'ablation/{name}',
        MNIST_FLAGS,
        s,
        budget.ablation_steps,
        tuple(overrides.items()),
      )
      for s in budget.ablation_seeds
    ]
  out.append(Run('quickstart/mnist_5k', 'quickstart', QUICKSTART_FLAGS, 0, budget.quickstart_steps))
  if budget.cgan_steps:  # beyond the paper: the conditional GAN of its section 7
    cgan = dict(
      num_steps=budget.cgan_steps, overrides=TABLE1_AVERAGE, eval_every=budget.cgan_eval_every
    )
    out += [Run(f'cgan/seed_{s}', 'cgan', CGAN_FLAGS, s, **cgan) for s in budget.seeds]
    first = budget.seeds[0]
    fashion = Run(f'cgan_fashion/seed_{first}', 'cgan_fashion', CGAN_FASHION_FLAGS, first, **cgan)
    concat = cgan | {'overrides': (*TABLE1_AVERAGE, ('model', 'mnist_mlp_cgan'))}
    out.append(fashion)
    out += [
      Run(f'cgan_concat/seed_{s}', 'cgan_concat', CGAN_FLAGS, s, **concat) for s in budget.seeds
    ]
  return [run for run in out if part_of(run) in budget.parts]


def part_of(run: Run) -> str:
  """The reproduction part (PARTS) a run belongs to."""
  return 'ablations' if run.part.startswith('ablation/') else run.part


def sweep_flags(budget: Budget) -> list[str]:
  """Flags of the recipe sweep (experiments.sweep): the paper recipe, shortened, evaluated on
  validation as the runs are."""
  return [
    f'--flagfile={MNIST_FLAGS}',
    f'--sweep={SWEEP_FILE}',
    f'--num_steps={budget.sweep_steps}',
    f'--eval_every={budget.eval_every}',
    '--eval_against=validation',
    f'--eval_num_samples={budget.eval_num_samples}',
    f'--checkpoint_every={budget.eval_every}',
    f'--sample_every={budget.sweep_steps}',
    f'--log_every={min(500, budget.eval_every)}',
    '--rank_by=parzen_ll',
  ]


def flagfile_dataset(flagfile: str) -> str:
  """The --dataset a recipe's flagfile names, itself or through a flagfile it includes (the last
  one wins, as absl reads them); the flagfile owns it."""

  def read(path: str) -> str | None:
    found = None
    with open(path) as f:
      for line in f:
        line = line.strip()
        if line.startswith('--flagfile='):
          found = read(line.split('=', 1)[1]) or found
        elif line.startswith('--dataset='):
          found = line.split('=', 1)[1]
    return found

  dataset = read(flagfile)
  if dataset is None:
    raise ValueError(f'{flagfile} names no --dataset')
  return dataset


def datasets(budget: Budget) -> dict[str, list[str]]:
  """Every data set the budget's steps read, each with the steps that need it."""
  needs: dict[str, list[str]] = {}
  for run in runs(budget):
    needs.setdefault(flagfile_dataset(run.flagfile), []).append(run.name)
  if 'sweep' in budget.parts:
    needs.setdefault(flagfile_dataset(MNIST_FLAGS), []).append('sweep')
  if 'quickstart' in budget.parts:
    needs.setdefault(QUICKSTART_EVAL_DATASET, []).append('quickstart evaluation')
  return needs
