"""benchmarks.tables: the text `make bench` prints, from a result of every section's shape."""

import copy

from benchmarks import tables


def _loop(iters_per_s: float) -> dict:
  return {
    'steps': 600,
    'seconds': 600 / iters_per_s,
    'cpu_s': 2 * 600 / iters_per_s,
    'iters_per_s': iters_per_s,
    'interval_iters_per_s_median': iters_per_s + 0.5,
    'iters_per_s_median_call': iters_per_s + 0.25,
    'compiles': {'by_function': {'train_steps': 1}, 'seconds_by_function': {'train_steps': 2.5}},
    'start_and_end_s': 1.25,
    'in_calls_s': 30.0,
    'calls': 6,
  }


PAPER_SECTIONS = {
  'environment': {
    'platform': 'cpu',
    'device_kind': 'cpu',
    'devices': 1,
    'cpu_count': 2,
    'jax': '0.10.0',
    'load_average': 0.4,
  },
  'load_average_end': 1.9,
  'options': {'chunk': 100},
  'summary': {
    'achieved_gflops': 48.0,
    'share_of_peak': 0.72,
    'bare_gflops': 50.0,
    'bare_share_of_peak': 0.75,
    'peak_gflops': 66.5,
    'ceiling_iters_per_s': 23.25,
    'model_matmul_ceiling_iters_per_s': 21.0,
    'share_of_model_matmul_ceiling': 0.81,
    'overhead': 1.0412,
    'overhead_cpu': 1.0301,
    'overhead_steady': 1.01,
    'overhead_in_run': 1.0205,
    'targets': {'overhead below 1.05': True, 'share of peak above 0.8': False},
  },
  'matmul_peak': {'gflops_by_size': {'1024': 61.25, '2048': 66.5}},
  'cost': {
    'model_matmuls': {
      'iteration_matmul_gflop': 2.79,
      'iteration_matmul_s': 0.0475,
      'gflops': 58.7,
      'rows': [
        {'shape': '100x784 @ 784x1200', 'count': 3, 'gflop': 0.188, 'ms': 3.5, 'gflops': 53.8}
      ],
    },
    'iter_gflop': 2.8612,
    'iter_dot_gflop': 2.7901,
    'fused_note': 'the fused call adds nothing',
  },
  'training_loop': {'full': _loop(17.0), 'bare': _loop(17.5)},
}


def _full_sections() -> dict:
  results = copy.deepcopy(PAPER_SECTIONS)
  run = {'chunk': 100, 'calls': 5, 'cpu_s': 40.0}
  results.update(
    batch_scaling=[
      {
        **run,
        'batch': 100,
        'iters_per_s': 17.0,
        'examples_per_s': 1700.0,
        'xla_iter_gflop': 2.86,
        'gflops': 48.6,
      },
    ],  # fmt: skip
    device_scaling=[
      {**run, 'devices': 1, 'iters_per_s': 17.0, 'gflops': 48.6, 'peak_rss_mb': 900},
      {'devices': 8, 'skipped': 'needs 8 cores'},
    ],
    models=[
      {
        'model': 'cifar10_conv',
        'batch': 128,
        'iters_per_s': 3.5,
        'xla_iter_gflop': 9.0,
        'gflops': 31.5,
        'share_of_peak': 0.47,
      },
    ],  # fmt: skip
    evaluation={
      'sampling': {'images_per_s': 25000.4},
      'classifier_features': {'images_per_s': 8000.6},
      'parzen': {
        'median_s': 12.345,
        'num_samples': 10000,
        'num_test': 10000,
        'num_validation': 1000,
      },
    },
    memory={'peak_rss_mb': 1234.4, 'steps': 50},
  )
  return results


def _table_rows(text: str, title: str) -> list[str]:
  """The header, rule and rows of the table titled `title`."""
  lines = text.splitlines()
  start = next(i for i, line in enumerate(lines) if line.startswith(title)) + 1
  end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
  return lines[start:end]


def test_cells_keep_three_figures_below_ten_and_one_decimal_above():
  assert tables._cell(0.72413) == '0.724'
  assert tables._cell(1.0412) == '1.04'
  assert tables._cell(66.54) == '66.5'
  assert tables._cell(1234.56) == '1234.6'
  assert tables._cell(600) == '600' and tables._cell('cpu') == 'cpu'


def test_a_table_right_aligns_every_column_to_its_widest_cell():
  text = tables._table('T', ['n', 'GFLOP/s'], [[1024, 61.25], [8, 6.5]])
  assert text.splitlines() == [
    '',
    'T',
    '   n  GFLOP/s',
    '----  -------',
    '1024     61.2',
    '   8      6.5',
  ]


def test_the_paper_sections_alone_stop_before_the_full_ones():
  text = tables.format_results(PAPER_SECTIONS)
  assert text.startswith(
    'cpu (cpu), 1 device(s), 2 CPUs, jax 0.10.0, load average at start 0.4 / at end 1.9'
  )
  assert _table_rows(text, 'XLA fp32 matmul') == [
    '   n  GFLOP/s',
    '----  -------',
    '1024     61.2',
    '2048     66.5',
  ]
  header, _, full, bare = _table_rows(text, 'Training loop')[:4]  # then its notes
  assert header.split() == [
    'loop', 'steps', 'seconds', 'cpu_s', 'iters/s', 'GFLOP/s', 'share', 'of', 'peak', 'median',
    'interval', 'iters/s',
  ]  # fmt: skip
  assert full.split() == ['full', '600', '35.3', '70.6', '17.0', '48.0', '0.72', '17.5']
  assert bare.split() == ['bare', '600', '34.3', '68.6', '17.5', '50.0', '0.75', '17.8']
  assert 'one train_step = 2.8612 GFLOP (dots 2.7901); the fused call adds nothing.' in text
  assert 'compiles: train_steps x1 (2.50 s)' in text
  assert 'targets: overhead below 1.05: met, share of peak above 0.8: MISSED' in text
  assert 'Batch size' not in text and 'Evaluation and memory' not in text


def test_the_full_sections_show_every_measurement_and_what_was_skipped():
  text = tables.format_results(_full_sections())
  (row,) = _table_rows(text, 'Batch size')[2:]
  # CPU ms per iteration: 40 CPU-seconds over 5 calls of 100 steps.
  assert row.split() == ['100', '17.0', '1700.0', '2.86', '48.6', '0.731', '80.0']
  one, eight = _table_rows(text, 'Devices')[2:]
  assert one.split() == ['1', '17.0', '48.6', '80.0', '900']
  assert eight.split() == ['8', '-', '-', '-', '-', 'needs', '8', 'cores']
  (model,) = _table_rows(text, 'Models')[2:]
  assert model.split() == ['cifar10_conv', '128', '3.5', '9', '31.5', '47.0%']
  rows = _table_rows(text, 'Evaluation and memory')[2:]
  assert [r.split('  ')[-1].strip() for r in rows] == [
    '25000 images/s',
    '8001 images/s',
    '12.35 s (10000 samples, 10000 test, 1000 validation)',
    '1234 MB (50 steps, with compile, a checkpoint and a sample grid)',
  ]
