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
2 GB, with the peak reached by the end of each phase (sampled from /proc, Linux only: the phase where it jumps is the
one that needs it). The machine's load is printed before and after: timings on a busy machine are not comparable.
"""
import argparse, json, os, subprocess, sys, tempfile, threading, time
from pathlib import Path
from diffad.benchmark import slug

TARGET_TOTAL, TARGET_GB = 2.5, 2.0   # the whole run against the training budget; peak memory

def _hwm_gb(pid:int) -> float|None:
    "The peak resident memory so far (VmHWM, GB) of a running process on Linux; None when it cannot be read."
    try: return next(int(l.split()[1]) for l in Path(f'/proc/{pid}/status').read_text().splitlines() if l.startswith('VmHWM:')) / 2**20
    except (OSError, StopIteration, ValueError): return None

def measure(args:list[str], every:float=0.25) -> tuple[float, float, list[tuple[float, float]]]:
    "Wall seconds and peak RSS (GB) of one command, and its peak so far sampled every `every` s as (epoch seconds, GB); its error output on failure."
    t0, samples, stop = time.perf_counter(), [], threading.Event()
    p = subprocess.Popen(args, env=dict(os.environ, DIFFAD_DEVICE='cpu'), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    def sample():
        while not stop.wait(every):
            gb = _hwm_gb(p.pid)
            if gb is not None: samples.append((time.time(), gb))
    th = threading.Thread(target=sample, daemon=True); th.start()
    _, status, ru = os.wait4(p.pid, 0)
    stop.set(); th.join()
    wall = time.perf_counter() - t0
    if status: sys.exit(f'{" ".join(args[:2])} failed:\n' + p.stderr.read().decode()[-3000:])
    return wall, ru.ru_maxrss / 2**20, samples   # ru_maxrss is in KB on Linux

def peak_by(samples:list[tuple[float, float]], t:float|None) -> float|None:
    "The peak memory (GB) reached by epoch time `t` (VmHWM only grows): which phase first needed the peak is where it jumps."
    if t is None or not samples: return None
    return max((gb for s, gb in samples if s <= t + 0.5), default=None)   # half a second: a file is written just before the sample that sees its phase's peak

def phase_table(res:dict, budget_s:float, wall:float, out:Path|None=None) -> list[tuple]:
    "Rows (phase, seconds, detail, file written when the phase ended or None) from results.json and the results folder `out`."
    sec, rows, run = res['settings']['seconds'], [], (out / 'run') if out else None
    end = lambda f: f if f is not None and f.exists() else None
    rows.append(('preparation (slice cache, split)', sec.get('prepare'), '', end(run and run / 'split.json')))
    for name, s in sec.get('train', {}).items():
        c = res['settings']['cost'].get(name, {})
        rows.append((f'train {name}', s, f"budget {60 * c.get('minutes', 0):.0f} s, {c.get('step', '?')} steps", end(run and run / f'{name}.done')))
    cl = res['settings'].get('clean_lambda')
    if cl: rows.append(('choose λ, clean constrained (validation scoring)', cl['seconds_scoring'], f"λ = {cl['lam']:g} among {', '.join(cl['search'])}; each trained above", end(run and run / 'clean_lambda.json')))
    rows.append(('choose L and s (validation)', sec.get('choose L and s'), '', end(out and out / 'choices.json')))
    if 'check IG points' in sec: rows.append(("check integrated gradients' points (validation)", sec['check IG points'], ', '.join(f"{c} {v['steps']}" for c, v in res['settings'].get('ig_steps', {}).items()), end(out and out / 'ig_steps.json')))
    ev = 0.
    for r in res['rows']:
        if 'seconds_evaluating' not in r: continue
        ev += r['seconds_evaluating']
        nfe = ', '.join(f'{k} {v:g}' for k, v in r.get('nfe_per_slice', {}).items()) or 'none'
        f = out and out / 'methods' / f"{slug(r['cohort'])}_{slug(r['method'])}.json"
        rows.append((f"evaluate {r['method']}", r['seconds_evaluating'], f"{r['slices_evaluated']} slices, {r['seconds_per_slice']:.3f} s/slice, NFE/slice: {nfe}", end(f)))
    rows.append(('all evaluations', ev, f'{ev / budget_s:.2f} of the training budget (target <= 1)', None))
    rows.append(('the whole command', wall, f'{wall / budget_s:.2f} of the training budget (target <= {TARGET_TOTAL})', None))
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
        wall, gb, samples = measure(['diffad', 'benchmark', '--data', str(d / 'cohort'), '--out', str(d / 'bench'), '--minutes', str(a.minutes),
                                     '--image-size', '64', '--eval-every', str(a.eval_every)] + (['--solver', a.solver] if a.solver else []) + (['--steps', str(a.steps)] if a.steps else []))
        res = json.loads((d / 'bench' / 'results.json').read_text())
        budget = 60 * a.minutes
        table = [(name, s, detail, peak_by(samples, f.stat().st_mtime if f else None)) for name, s, detail, f in phase_table(res, budget, wall, d / 'bench')]
    print(f'diffad benchmark: {a.subjects} subjects (split {res["settings"]["split"]}), --minutes {a.minutes:g}, solver {res["settings"]["solver"]}, {res["settings"]["steps"]} steps each way, '
          f'eval-every {a.eval_every}; peak memory {gb:.2f} GB (target < {TARGET_GB} GB)')
    print(f'| phase | seconds | share of the {budget:.0f}-s budget | peak memory by its end (GB) | detail |\n|---|---|---|---|---|')
    for name, s, detail, peak in table:
        print(f"| {name} | {'-' if s is None else f'{s:.1f}'} | {'-' if s is None else f'{s / budget:.2f}'} | {'-' if peak is None else f'{peak:.2f}'} | {detail} |")
    print(f'load average after: {os.getloadavg()[0]:.2f}')
