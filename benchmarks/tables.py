"""The text tables of a `benchmarks.bench` result: what benchmarks.suite measured, formatted.

The paper model's sections (matmul peak, cost, training loop) are always there; the sections
only --full measures (evaluation, batch and device scaling, the models, memory) are shown when
present.
"""


def _table(title: str, header: list[str], rows: list[list]) -> str:
  cells = [[_cell(v) for v in row] for row in rows]
  widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
  line = lambda values: '  '.join(v.rjust(w) for v, w in zip(values, widths))
  return '\n'.join(
    [f'\n{title}', line(header), line(['-' * w for w in widths]), *(line(r) for r in cells)]
  )


def _cell(value) -> str:
  if isinstance(value, float):
    return f'{value:.3g}' if abs(value) < 10 else f'{value:.1f}'
  return str(value)


def format_results(results: dict) -> str:
  """The bench's tables as text."""
  env, head, peak, cost = (results[k] for k in ('environment', 'summary', 'matmul_peak', 'cost'))
  loop = results['training_loop']
  parts = [
    f'{env["platform"]} ({env["device_kind"]}), {env["devices"]} device(s), '
    f'{env["cpu_count"]} CPUs, jax {env["jax"]}, load average at start '
    f'{env["load_average"]} / at end {results["load_average_end"]}'
  ]
  parts.append(
    _table(
      'XLA fp32 matmul, square (default precision)',
      ['n', 'GFLOP/s'],
      [[n, g] for n, g in peak['gflops_by_size'].items()],
    )
  )
  mm = cost['model_matmuls']
  parts.append(
    _table(
      f'The matmuls of one iteration, each run alone ({mm["iteration_matmul_gflop"]:.3f} GFLOP '
      f'in {mm["iteration_matmul_s"] * 1e3:.2f} ms: {mm["gflops"]:.1f} GFLOP/s; * = contracted)',
      ['shape', 'count', 'MFLOP', 'ms', 'GFLOP/s'],
      [[r['shape'], r['count'], r['gflop'] * 1e3, r['ms'], r['gflops']] for r in mm['rows']],
    )
  )
  parts.append(
    f'\nXLA cost analysis: one train_step = {cost["iter_gflop"]:.4f} GFLOP '
    f'(dots {cost["iter_dot_gflop"]:.4f}); {cost["fused_note"]}.'
  )
  full, bare = loop['full'], loop['bare']
  parts.append(
    _table(
      'Training loop (paper MNIST model, batch 100, fused calls of '
      f'{results["options"]["chunk"]} steps)',
      [
        'loop',
        'steps',
        'seconds',
        'cpu_s',
        'iters/s',
        'GFLOP/s',
        'share of peak',
        'median interval iters/s',
      ],
      [
        [
          'full',
          full['steps'],
          full['seconds'],
          full['cpu_s'],
          full['iters_per_s'],
          head['achieved_gflops'],
          head['share_of_peak'],
          _cell(full['interval_iters_per_s_median']),
        ],
        [
          'bare',
          bare['steps'],
          bare['seconds'],
          bare['cpu_s'],
          bare['iters_per_s'],
          head['bare_gflops'],
          head['bare_share_of_peak'],
          bare['iters_per_s_median_call'],
        ],
      ],
    )
  )
  compiled = ', '.join(
    f'{name} x{n} ({full["compiles"]["seconds_by_function"][name]:.2f} s)'
    for name, n in full['compiles']['by_function'].items()
  )
  parts.append(
    f'full = train.train_and_evaluate from call to return, after a warm-up run that compiled '
    f'the fused step; inside it: start and end {full["start_and_end_s"]:.2f} s, compiles: '
    f'{compiled or "none"}\n'
    f"bare = the same compiled fused step called back to back; median interval = the loop's "
    f'own clock between log lines (bare: per call)\n'
    f'peak {head["peak_gflops"]:.1f} GFLOP/s -> ceiling {head["ceiling_iters_per_s"]:.1f} '
    f"iters/s; the model's matmuls alone: {head['model_matmul_ceiling_iters_per_s']:.1f} "
    f'iters/s (full loop at {head["share_of_model_matmul_ceiling"]:.0%} of it)\n'
    f'overhead (full / bare time per step): {head["overhead"]:.4f} wall, '
    f'{head["overhead_cpu"]:.4f} CPU time, {_cell(head["overhead_steady"])} median interval; '
    f'inside the full run: {full["seconds"]:.1f} s / {full["in_calls_s"]:.1f} s in its '
    f'{full["calls"]} fused calls = {head["overhead_in_run"]:.4f}'
  )
  parts.append(
    'targets: ' + ', '.join(f'{k}: {"met" if v else "MISSED"}' for k, v in head['targets'].items())
  )
  if loop.get('profile'):
    prof = loop['profile']
    parts.append(
      _table(
        f"Where one iteration's time goes ({prof['wall_ms_per_iter']:.2f} ms wall; "
        f'{prof["op_ms_per_iter"]:.2f} ms summed over threads, '
        f'{prof["instructions_run_per_iter"]:.0f} instructions run)',
        ['category', 'ms/iter', 'share'],
        [[k, v['ms_per_iter'], f'{v["share"]:.1%}'] for k, v in prof['categories'].items()],
      )
    )
    parts.append(
      _table(
        'Top HLO instructions',
        ['instruction', 'category', 'shape', 'ms/iter', 'share', 'op'],
        [
          [
            r['instruction'],
            r['category'],
            r['shape'],
            r['ms_per_iter'],
            f'{r["share"]:.1%}',
            r['op_name'],
          ]
          for r in prof['top']
        ],
      )
    )
  if 'batch_scaling' not in results:  # the paper model's sections only (no --full)
    return '\n'.join(parts)
  cpu_ms = lambda r: r['cpu_s'] / (r['chunk'] * r['calls']) * 1e3
  parts.append(
    _table(
      'Batch size (bare loop, 1 process)',
      ['batch', 'iters/s', 'examples/s', 'GFLOP/iter', 'GFLOP/s', 'share of peak', 'CPU ms/iter'],
      [
        [
          r['batch'],
          r['iters_per_s'],
          r['examples_per_s'],
          r['xla_iter_gflop'],
          r['gflops'],
          r['gflops'] / head['peak_gflops'],
          cpu_ms(r),
        ]
        for r in results['batch_scaling']
      ],
    )
  )
  parts.append(
    _table(
      'Devices (bare loop, batch 100, forced host devices on CPU)',
      ['devices', 'iters/s', 'GFLOP/s', 'CPU ms/iter', 'peak RSS MB', 'note'],
      [
        [
          r['devices'],
          r.get('iters_per_s', '-'),
          r.get('gflops', '-'),
          cpu_ms(r) if 'cpu_s' in r else '-',
          r.get('peak_rss_mb', '-'),
          r.get('skipped', r.get('error', ''))[:60],
        ]
        for r in results['device_scaling']
      ],
    )
  )
  if results.get('models'):
    parts.append(
      _table(
        'Models (bare loop, original batch, 1 device)',
        ['model', 'batch', 'iters/s', 'GFLOP/iter (XLA)', 'GFLOP/s', 'share of peak'],
        [
          [
            r['model'],
            r['batch'],
            r['iters_per_s'],
            r['xla_iter_gflop'],
            r['gflops'],
            f'{r["share_of_peak"]:.1%}',
          ]
          for r in results['models']
        ],
      )
    )
  ev, mem = results['evaluation'], results['memory']
  parzen = ev['parzen']
  parts.append(
    _table(
      'Evaluation and memory',
      ['what', 'figure'],
      [
        ['sampling (restored checkpoint)', f'{ev["sampling"]["images_per_s"]:.0f} images/s'],
        ['classifier features', f'{ev["classifier_features"]["images_per_s"]:.0f} images/s'],
        [
          'Parzen protocol',
          f'{parzen["median_s"]:.2f} s ({parzen["num_samples"]} samples, '
          f'{parzen["num_test"]} test, {parzen["num_validation"]} validation)'
          if 'median_s' in parzen
          else parzen.get('error', '')[:80],
        ],
        [
          'training run peak RSS',
          f'{mem.get("peak_rss_mb", float("nan")):.0f} MB '
          f'({mem.get("steps")} steps, with compile, a checkpoint and a sample grid)',
        ],
      ],
    )
  )
  return '\n'.join(parts)
