#!/usr/bin/env python
"""Wall time and peak memory of the product commands, against the project's budgets.

    python bench/bench_product.py [--skip-demo] [--skip-benchmark] [--subjects 20] [--minutes 3]

1. `diffad demo` as a user runs it (defaults): budget 5 minutes on 2 CPU cores, target 2 minutes; 2 GB peak memory.
2. `diffad benchmark` at 64x64 on a phantom cohort written by `diffad synth` (`--subjects` subjects of
   64x64x48, `--minutes` of training): 2 GB peak memory (`bench_benchmark.py` shows where its time goes).

Each command runs in its own process; its peak resident memory is that process's own (`os.wait4`).
The load of the machine is printed with the results (timings on a busy machine are not comparable).
"""
import argparse, os, subprocess, sys, tempfile, time
from pathlib import Path

BUDGET_S, TARGET_S, BUDGET_GB = 300, 120, 2.0

def measure(args:list[str], cwd:Path) -> tuple[float, float, int]:
    "Wall seconds, peak RSS in GB and exit status of one command."
    env = dict(os.environ, DIFFAD_DEVICE='cpu')
    t0 = time.perf_counter()
    p = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status: sys.stderr.write(p.stderr.read().decode()[-3000:])
    return wall, ru.ru_maxrss / 2**20, os.waitstatus_to_exitcode(status)  # ru_maxrss is in KB on Linux

def report(name:str, wall:float, gb:float, code:int, time_budget:float|None):
    t = f'{wall:7.1f} s' + (f' ({wall / time_budget:.2f} of the {time_budget} s budget, {wall / TARGET_S:.2f} of the {TARGET_S} s target)' if time_budget else '')
    print(f'{name:<34} exit {code}  wall {t}  peak memory {gb:.2f} GB ({gb / BUDGET_GB:.2f} of {BUDGET_GB} GB)', flush=True)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--skip-demo', action='store_true'); p.add_argument('--skip-benchmark', action='store_true')
    p.add_argument('--subjects', type=int, default=20); p.add_argument('--minutes', type=float, default=3.)
    a = p.parse_args()
    print(f'load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores')
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if not a.skip_demo:
            report('diffad demo', *measure(['diffad', 'demo', '--out', str(d / 'demo')], d), BUDGET_S)
        if not a.skip_benchmark:
            subprocess.run(['diffad', 'synth', '--out', str(d / 'cohort'), '--kind', 'tumour', '--subjects', str(a.subjects)],
                           check=True, stdout=subprocess.DEVNULL)
            report(f'diffad benchmark (64x64, {a.subjects} subjects)',
                   *measure(['diffad', 'benchmark', '--data', str(d / 'cohort'), '--out', str(d / 'bench'), '--minutes', str(a.minutes),
                             '--image-size', '64'], d), None)
    print(f'load average after: {os.getloadavg()[0]:.2f}')
