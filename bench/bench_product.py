#!/usr/bin/env python
"""Wall time and peak memory of the product commands, against the project's budgets.

    python bench/bench_product.py [--skip-demo] [--skip-benchmark] [--subjects 20] [--minutes 3]

1. `diffad demo` as a user runs it (defaults): budget 5 minutes on 2 CPU cores, target 2 minutes; 2 GB peak memory.
2. `diffad benchmark` at 64x64 on a phantom cohort written by `diffad synth` (`--subjects` subjects of
   64x64x48, `--minutes` of training): 2 GB peak memory (`bench_benchmark.py` shows where its time goes).

Each command runs in its own process (`common.measure`, as in `bench_benchmark.py`); its peak resident memory is that process's own (`os.wait4`).
The load of the machine is printed with the results (timings on a busy machine are not comparable).
"""
import argparse, subprocess, tempfile
from pathlib import Path
from common import Measured, measure, load_line

BUDGET_S, TARGET_S, BUDGET_GB = 300, 120, 2.0

def report(name:str, m:Measured, time_budget:float|None):
    if m.code: print(m.stderr)
    t = f'{m.wall:7.1f} s' + (f' ({m.wall / time_budget:.2f} of the {time_budget} s budget, {m.wall / TARGET_S:.2f} of the {TARGET_S} s target)' if time_budget else '')
    print(f'{name:<34} exit {m.code}  wall {t}  peak memory {m.peak_gb:.2f} GB ({m.peak_gb / BUDGET_GB:.2f} of {BUDGET_GB} GB)', flush=True)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--skip-demo', action='store_true'); p.add_argument('--skip-benchmark', action='store_true')
    p.add_argument('--subjects', type=int, default=20); p.add_argument('--minutes', type=float, default=3.)
    a = p.parse_args()
    print(load_line('before'))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if not a.skip_demo:
            report('diffad demo', measure(['diffad', 'demo', '--out', str(d / 'demo')], d), BUDGET_S)
        if not a.skip_benchmark:
            subprocess.run(['diffad', 'synth', '--out', str(d / 'cohort'), '--kind', 'tumour', '--subjects', str(a.subjects)],
                           check=True, stdout=subprocess.DEVNULL)
            report(f'diffad benchmark (64x64, {a.subjects} subjects)',
                   measure(['diffad', 'benchmark', '--data', str(d / 'cohort'), '--out', str(d / 'bench'), '--minutes', str(a.minutes),
                             '--image-size', '64'], d), None)
    print(load_line('after'))
