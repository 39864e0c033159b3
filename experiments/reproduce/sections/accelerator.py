"""Table 1's rows measured on an accelerator (`make gpu-check`'s exported summary)."""

import os

from experiments.reproduce import plan as plan_lib
from experiments.reproduce.sections import common


def gpu_summary(page) -> dict | None:
  """What `make gpu-check` exported (results/gpu/table1.json beside the page), or None."""
  from experiments.reproduce import export

  return common.read_json(os.path.join(os.path.dirname(page.results_md) or '.', export.GPU_SUMMARY))


def rows(page, summary: dict | None) -> list[str]:
  """Table 1 rows measured on an accelerator by `make gpu-check`."""
  if not summary:
    return [
      f"| the paper's recipe at its full length, {plan_lib.BUDGETS['gpu'].mnist_steps:,} "
      'steps, on a GPU | not run yet: `make gpu-check` on a GPU machine | | | | | |'
    ]
  out = []
  for row in summary['rows']:
    out.append(
      f'| {row["label"]} on {summary["device"]} ({len(row["seeds"])} seeds, '
      f'`make gpu-check`, commit {summary["commit"][:12]}) | {row["steps"]:,} | '
      f'{common.duration(summary["train_seconds"])} for the population | '
      f'{common.mean_sd(row["test_ll"])} | {common.mean_sd(row["frechet_distance"])} | '
      f'{common.mean_sd(row["precision"])} / {common.mean_sd(row["recall"])} | '
      f'{common.mean_sd(row["nn_samples"])} / {common.mean_sd(row["nn_test"])} |'
    )
  return out
