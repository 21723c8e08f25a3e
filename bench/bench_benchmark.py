#!/usr/bin/env python
"""Where `diffad benchmark`'s time goes: each phase's wall time against the training budget, and per method the
slices scored, seconds and network evaluations (NFE) per slice.

    python bench/bench_benchmark.py [--subjects 20] [--minutes 3] [--solver SOLVER] [--steps N] [--eval-every 3] [--keep DIR]

A phantom tumour cohort of `--subjects` subjects is written by `diffad synth` (its defaults: realistic, a fifth
healthy), then `diffad benchmark --image-size 64 --minutes M` runs on it in its own process (wall time and peak
memory measured by `os.wait4`). The phases are read back from the run's results.json: preparation, each training
stage (its budget and its wall time, pair building included for the refiner), the choice of L and s on the
validation subjects, and each method's evaluation (validation threshold + test maps). The targets (issue 19, 2 CPU
cores): evaluation time at most the training budget, the whole run at most about 2.5 times it, peak memory under
2 GB. The machine's load is printed before and after: timings on a busy machine are not comparable.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

TARGET_TOTAL, TARGET_GB = 2.5, 2.0   # the whole run against the training budget; peak memory

def measure(args:list[str]) -> tuple[float, float]:
    "Wall seconds and peak RSS (GB) of one command; its error output on failure."
    t0 = time.perf_counter()
    p = subprocess.Popen(args, env=dict(os.environ, DIFFAD_DEVICE='cpu'), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status: sys.exit(f'{" ".join(args[:2])} failed:\n' + p.stderr.read().decode()[-3000:])
    return wall, ru.ru_maxrss / 2**20

def phase_table(res:dict, budget_s:float, wall:float) -> list[tuple]:
    "Rows (phase, seconds, share of the budget, detail) from results.json."
    sec, rows = res['settings']['seconds'], []
    rows.append(('preparation (slice cache, split)', sec.get('prepare'), ''))
    for name, s in sec.get('train', {}).items():
        c = res['settings']['cost'].get(name, {})
        rows.append((f'train {name}', s, f"budget {60 * c.get('minutes', 0):.0f} s, {c.get('step', '?')} steps"))
    cl = res['settings'].get('clean_lambda')
    if cl: rows.append(('choose λ, clean constrained (validation scoring)', cl['seconds_scoring'], f"λ = {cl['lam']:g} among {', '.join(cl['search'])}; each trained above"))
    rows.append(('choose L and s (validation)', sec.get('choose L and s'), ''))
    if 'check IG points' in sec: rows.append(("check integrated gradients' points (validation)", sec['check IG points'], ', '.join(f"{c} {v['steps']}" for c, v in res['settings'].get('ig_steps', {}).items())))
    ev = 0.
    for r in res['rows']:
        if 'seconds_evaluating' not in r: continue
        ev += r['seconds_evaluating']
        nfe = ', '.join(f'{k} {v:g}' for k, v in r.get('nfe_per_slice', {}).items()) or 'none'
        rows.append((f"evaluate {r['method']}", r['seconds_evaluating'], f"{r['slices_evaluated']} slices, {r['seconds_per_slice']:.3f} s/slice, NFE/slice: {nfe}"))
    rows.append(('all evaluations', ev, f'{ev / budget_s:.2f} of the training budget (target <= 1)'))
    rows.append(('the whole command', wall, f'{wall / budget_s:.2f} of the training budget (target <= {TARGET_TOTAL})'))
    return rows

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--subjects', type=int, default=20); p.add_argument('--minutes', type=float, default=3.)
    p.add_argument('--solver', default=None, help="the encode-decode solver (default: the benchmark's, PROTOCOL.solver)")
    p.add_argument('--steps', type=int, default=None, help="steps of each half (default: the benchmark's, PROTOCOL.steps)"); p.add_argument("--eval-every", type=int, default=3)
    p.add_argument('--keep', default=None, help='write the cohort and results here (default: a temporary folder)')
    a = p.parse_args()
    print(f'load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores', flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(a.keep or tmp); d.mkdir(parents=True, exist_ok=True)
        if not (d / 'cohort').exists():
            subprocess.run(['diffad', 'synth', '--out', str(d / 'cohort'), '--kind', 'tumour', '--subjects', str(a.subjects)], check=True, stdout=subprocess.DEVNULL)
        wall, gb = measure(['diffad', 'benchmark', '--data', str(d / 'cohort'), '--out', str(d / 'bench'), '--minutes', str(a.minutes),
                            '--image-size', '64', '--eval-every', str(a.eval_every)] + (['--solver', a.solver] if a.solver else []) + (['--steps', str(a.steps)] if a.steps else []))
        res = json.loads((d / 'bench' / 'results.json').read_text())
    budget = 60 * a.minutes
    print(f'diffad benchmark: {a.subjects} subjects (split {res["settings"]["split"]}), --minutes {a.minutes:g}, solver {res["settings"]["solver"]}, {res["settings"]["steps"]} steps each way, '
          f'eval-every {a.eval_every}; peak memory {gb:.2f} GB (target < {TARGET_GB} GB)')
    print(f'| phase | seconds | share of the {budget:.0f}-s budget | detail |\n|---|---|---|---|')
    for name, s, detail in phase_table(res, budget, wall):
        print(f"| {name} | {'-' if s is None else f'{s:.1f}'} | {'-' if s is None else f'{s / budget:.2f}'} | {detail} |")
    print(f'load average after: {os.getloadavg()[0]:.2f}')
