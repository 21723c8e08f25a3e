#!/usr/bin/env python
"""Where `diffad benchmark`'s time goes: each phase's wall time against the training budget, and per method the
slices scored, seconds and network evaluations (NFE) per slice.

    python bench/bench_benchmark.py [--subjects 20] [--minutes 3] [--solver SOLVER] [--steps N] [--eval-every 3] [--keep DIR]

A phantom tumour cohort of `--subjects` subjects is written by `diffad synth` (its defaults: realistic, a fifth
healthy), then `diffad benchmark --image-size 64 --minutes M` runs on it in its own process (wall time and peak
memory measured by `os.wait4`, `common.measure` as in `bench_product.py`). The phases are read back from the run's results.json: preparation, each training
stage (its budget and its wall time, pair building included for the refiner), the choice of L and s on the
validation subjects (its budget, the slices it scored and the grid points each method scored), and each method's evaluation (validation threshold + test maps). The targets (issue 19, 2 CPU
cores): evaluation time at most the training budget, the whole run at most about 2.5 times it, peak memory under
2 GB, with the peak reached by the end of each phase (sampled from /proc, Linux only: the phase where it jumps is the
one that needs it). The machine's load is printed before and after: timings on a busy machine are not comparable.
"""
import argparse, json, subprocess, sys, tempfile
from pathlib import Path
from diffad.benchmark import PROTOCOL, slug
from common import measure, load_line

TARGET_TOTAL, TARGET_GB = 2.5, 2.0   # the whole run against the training budget; peak memory

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
    ch = res['settings'].get('choices', {})
    points = ', '.join(f"{m} {sum(len(v) if isinstance(v, dict) else 1 for v in c['search'].values())}" for m, c in ch.items() if 'search' in c)
    rows.append(('choose L and s (validation)', sec.get('choose L and s'), f"budget {PROTOCOL.search_share * budget_s:.0f} s; {max((c.get('slices', 0) for c in ch.values()), default=0)} slices "
                 f"(at least {PROTOCOL.search_min_slices}); (L, s) or L points scored: {points or 'none'}", end(out and out / 'choices.json')))
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
    print(load_line('before'), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(a.keep or tmp); d.mkdir(parents=True, exist_ok=True)
        if not (d / 'cohort').exists():
            subprocess.run(['diffad', 'synth', '--out', str(d / 'cohort'), '--kind', 'tumour', '--subjects', str(a.subjects)], check=True, stdout=subprocess.DEVNULL)
        m = measure(['diffad', 'benchmark', '--data', str(d / 'cohort'), '--out', str(d / 'bench'), '--minutes', str(a.minutes),
                                     '--image-size', '64', '--eval-every', str(a.eval_every)] + (['--solver', a.solver] if a.solver else []) + (['--steps', str(a.steps)] if a.steps else []), every=0.25)
        if m.code: sys.exit(f'diffad benchmark failed:\n{m.stderr}')
        wall, gb, samples = m.wall, m.peak_gb, m.samples
        res = json.loads((d / 'bench' / 'results.json').read_text())
        budget = 60 * a.minutes
        table = [(name, s, detail, peak_by(samples, f.stat().st_mtime if f else None)) for name, s, detail, f in phase_table(res, budget, wall, d / 'bench')]
    print(f'diffad benchmark: {a.subjects} subjects (split {res["settings"]["split"]}), --minutes {a.minutes:g}, solver {res["settings"]["solver"]}, {res["settings"]["steps"]} steps each way, '
          f'eval-every {a.eval_every}; peak memory {gb:.2f} GB (target < {TARGET_GB} GB)')
    print(f'| phase | seconds | share of the {budget:.0f}-s budget | peak memory by its end (GB) | detail |\n|---|---|---|---|---|')
    for name, s, detail, peak in table:
        print(f"| {name} | {'-' if s is None else f'{s:.1f}'} | {'-' if s is None else f'{s / budget:.2f}'} | {'-' if peak is None else f'{peak:.2f}'} | {detail} |")
    print(load_line('after'))
