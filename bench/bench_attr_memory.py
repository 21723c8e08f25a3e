#!/usr/bin/env python
"""What integrated and expected gradients cost in memory and time, by how many path points go through the
classifier at once (`chunk`: at chunk 8 a batch of 16 slices sends 128 images through the backward pass; diffad's default is 2 since this bench).

    python bench/bench_attr_memory.py [--chunks 2 4 8 16] [--batch 16] [--steps 32] [--k 16] [--classifier clean]

For one shipped tumour classifier and one batch of validation slices of the phantom experiment (every third, the
first `--batch` of them), each (method, chunk) runs in a fresh process: its peak resident memory above what the
process held once the network and slices were loaded, and its wall time, against chunk 8 measured in the same run.
The maps are the same at every chunk (the sum over path points is only grouped differently; checked here to 1e-5
relative). `diffad benchmark`'s peak (issue 19: target under 2 GB) includes these maps' on 16 slices.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path
from common import load_line

def one(a) -> dict:
    "In this process: load, then one attribution at `a.chunk`; the peak memory it added (GB) and its seconds."
    import torch
    from diffad.data import SliceDataset
    from diffad.runs import phantom_experiment, shipped_networks
    from diffad.attribution import LogOdds, integrated_gradients, expected_gradients
    torch.set_num_threads(a.threads)
    cache, split = phantom_experiment(a.cache, progress=False)
    val, train = SliceDataset(cache, subjects=split['tumour'][1], every=3), SliceDataset(cache, subjects=split['tumour'][0])
    x = torch.stack([val[i]['image'] for i in range(a.batch)])
    refs = torch.stack([train[int(i)]['image'] for i in torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:64]])
    lo = LogOdds(getattr(shipped_networks('tumour', 'cpu'), a.classifier))
    t = torch.zeros(a.batch, dtype=torch.long)
    with torch.no_grad(): lo(x[:1], t[:1])   # the first call's one-off allocations belong to loading
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # KB on Linux
    t0 = time.perf_counter()
    if a.method == 'integrated_gradients': A = integrated_gradients(lo, x, 0, t, baseline=-1., steps=a.steps, chunk=a.chunk)
    else: A = expected_gradients(lo, x, 0, t, references=refs, k=a.k, generator=torch.Generator().manual_seed(0), chunk=a.chunk)
    sec = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    torch.save(A.detach(), a.save)
    return dict(added_gb=after - before, peak_gb=after, seconds=sec)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--chunks', type=int, nargs='+', default=[2, 4, 8, 16]); p.add_argument('--batch', type=int, default=16)
    p.add_argument('--steps', type=int, default=32); p.add_argument('--k', type=int, default=16)
    p.add_argument('--classifier', default='clean', choices=('plain', 'constrained', 'clean', 'clean_constrained'))
    p.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    p.add_argument('--cache', default=str(Path(tempfile.gettempdir()) / 'diffad_cache'))
    p.add_argument('--one', nargs=2, metavar=('METHOD', 'CHUNK'), help=argparse.SUPPRESS); p.add_argument('--save', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        a.method, a.chunk = a.one[0], int(a.one[1])
        print(json.dumps(one(a))); sys.exit()
    import torch
    print(load_line('before') + f'; classifier {a.classifier}, {a.batch} slices, {a.threads} threads')
    print('| method | chunk | images per pass | peak added (GB) | × chunk 8 | seconds | × chunk 8 | map = chunk 8 |\n|---|---|---|---|---|---|---|---|')
    with tempfile.TemporaryDirectory() as tmp:
        for m in ('integrated_gradients', 'expected_gradients'):
            res = {}
            for c in sorted(set(a.chunks) | {8}):
                f = Path(tmp) / f'{m}_{c}.pt'
                cmd = [sys.executable, __file__, '--one', m, str(c), '--save', str(f), '--batch', str(a.batch), '--steps', str(a.steps), '--k', str(a.k),
                       '--classifier', a.classifier, '--threads', str(a.threads), '--cache', a.cache]
                res[c] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            ref = torch.load(Path(tmp) / f'{m}_8.pt')
            for c, r in res.items():
                A = torch.load(Path(tmp) / f'{m}_{c}.pt')
                same = bool(((A - ref).abs().sum() / ref.abs().sum()) < 1e-5)
                print(f"| {m} | {c} | {c * a.batch} | {r['added_gb']:.2f} | {r['added_gb'] / res[8]['added_gb']:.2f} | {r['seconds']:.1f} | {r['seconds'] / res[8]['seconds']:.2f} | {same} |")
    print(load_line('after'))
