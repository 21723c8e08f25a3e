#!/usr/bin/env python
"""Threads or processes: what the two cores of this machine class give a map, one process with two threads
against two single-thread processes side by side (issue 19: the demo and the benchmark score independent
pathologies and methods, which could run as parallel workers).

    python bench/bench_threads.py [--slices 16] [--repeats 2] [--workloads wolleb ig refine]

Each workload maps `--slices` validation slices of the phantom experiment with the shipped networks, in one
batch, `--repeats` times (the first call warms up and is not timed):

- wolleb: Wolleb's map at the tumour's `PHANTOM_CHOICES` (L, s), 10 DDIM steps each way (the demo's steps);
- ig: integrated gradients of the tumour's plain clean classifier, 32 points;
- refine: Behrendt et al.'s refiner on its reconstruction (L = 500, 10 DDPM steps).

Three settings, each in fresh processes: one process with 2 threads; one with 1 thread; two 1-thread processes
at once, each mapping the same slices. Printed: slices per second of each setting (the pair's is the two
together), and the pair's throughput over the 2-thread process's — above 1, two single-thread workers are
the faster way to spend the two cores. Run it alone: the load before and after is printed.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
from common import load_line

def worker(workload:str, threads:int, slices:int, repeats:int) -> float:
    "Seconds per repeat of one workload in this process, at `threads` threads."
    import torch
    torch.set_num_threads(threads)
    from diffad.data import SliceDataset
    from diffad.metrics import most_lesion
    from diffad.runs import phantom_experiment, shipped_networks
    from diffad.benchmark import detector, PHANTOM_CHOICES
    cache, split = phantom_experiment(Path(tempfile.gettempdir()) / 'diffad_cache', progress=False)
    val = SliceDataset(cache, subjects=split['tumour'][1])
    x = torch.stack([torch.as_tensor(val[i]['image']) for i in most_lesion(val, slices)])
    nets, c = shipped_networks('tumour', 'cpu'), PHANTOM_CHOICES['tumour']['wolleb']
    det = dict(wolleb=lambda: detector('wolleb', nets, c['level'], 10, c['scale']),
               ig=lambda: detector('attribution', nets, attribution='integrated_gradients', classifier='clean', ig_steps=32),
               refine=lambda: detector('refine', nets, generator=torch.Generator().manual_seed(0)))[workload]()
    det(x)  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats): det(x)
    return (time.perf_counter() - t0) / repeats

def spawn(workload:str, threads:int, a) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), DIFFAD_DEVICE='cpu')
    return subprocess.Popen([sys.executable, __file__, '--worker', workload, '--threads', str(threads), '--slices', str(a.slices), '--repeats', str(a.repeats)],
                            env=env, stdout=subprocess.PIPE, text=True)

def seconds(p:subprocess.Popen) -> float:
    out, _ = p.communicate()
    if p.returncode: raise SystemExit(f'worker failed with exit {p.returncode}')
    return json.loads(out.strip().splitlines()[-1])['seconds']

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--slices', type=int, default=16); p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--workloads', nargs='+', default=['wolleb', 'ig', 'refine'])
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS); p.add_argument('--threads', type=int, default=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(dict(seconds=worker(a.worker, a.threads, a.slices, a.repeats)))); sys.exit()
    print(load_line('before') + f'; {a.slices} slices, {a.repeats} timed repeats', flush=True)
    print('| workload | 1 process, 2 threads (slices/s) | 1 process, 1 thread | 2 processes, 1 thread each (together) | 2 processes / 2 threads |')
    print('|---|---|---|---|---|')
    for w in a.workloads:
        two = a.slices / seconds(spawn(w, 2, a))
        one = a.slices / seconds(spawn(w, 1, a))
        pair = [spawn(w, 1, a) for _ in range(2)]
        both = sum(a.slices / seconds(q) for q in pair)
        print(f'| {w} | {two:.2f} | {one:.2f} | {both:.2f} | {both / two:.2f} |', flush=True)
    print(load_line('after'))
