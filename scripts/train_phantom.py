#!/usr/bin/env python
"""Train the small phantom models that diffad ships (diffad/assets/phantom_*.pt).

    python scripts/train_phantom.py [--minutes-diffusion 60] [--minutes-classifier 10] [--minutes-constrained 12]
                                    [--minutes-healthy 30] [--refiner-steps 1600]

A phantom cohort of tumour subjects and one of MS subjects (64x64x48 volumes, 4 contrasts) are cut
into 64x64 axial slices and split by subject (70/10/20, seed 0: the split the notebooks use). One
diffusion model is trained on the training slices of both cohorts (healthy and diseased slices, as
Wolleb et al. do), one noisy classifier per pathology (healthy vs diseased slices), and one
attribution-constrained noisy classifier per pathology (Wargnier-Dauchelle et al.), fine-tuned from the
plain one with the benchmark protocol's constraint (`diffad.benchmark.PROTOCOL`: gradient, BCE form,
lambda 1000); for Behrendt et al. (`10_refine`) a diffusion model of healthy slices only, fine-tuned
from the first one on the healthy training slices of both cohorts, and three refiners (the
segmentation UNet on slice / pseudo-healthy pairs): one per pathology, trained on synthetic anomalies
in the healthy training slices of both cohorts plus every annotated training slice of that pathology,
and one on the synthetic anomalies alone; and the learned unsupervised baseline, Kascenas et al.'s
denoising autoencoder (the same UNet at t = 0, trained on the healthy training slices of both cohorts
to remove coarse noise). Learning rates are the protocol's. Their pairs
(reconstructions at L=500, 10 DDPM steps, by the healthy model) are made once and kept in the runs
folder. A stage with 0 minutes (or 0 refiner steps) is skipped. Checkpoints are resumable (rerunning
continues where a run stopped); the EMA weights are exported in float16 with their configuration to
the assets folder, which the notebooks and `diffad demo` load.
"""
import argparse, time
from pathlib import Path
import torch
from diffad.data import SliceDataset
from diffad.training import load_checkpoint, save_checkpoint
from diffad.refine import make_pairs, cat_pairs
from diffad.runs import train_run, train_refiner, phantom_experiment, load_run_model, PHANTOM_SUBJECTS
from diffad.benchmark import PROTOCOL

def export(ckpt:Path, out:Path):
    "EMA weights (float16) and configuration of a training checkpoint, for shipping."
    ck = load_checkpoint(ckpt)
    sd = {k: v.half() if v.is_floating_point() else v for k, v in ck['ema']['model'].items()}
    save_checkpoint(out, dict(config=ck['config'], model=sd, step=ck['step']))

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--subjects', type=int, default=PHANTOM_SUBJECTS, help='subjects per pathology')
    p.add_argument('--minutes-diffusion', type=float, default=60)
    p.add_argument('--minutes-classifier', type=float, default=10, help='per classifier')
    p.add_argument('--minutes-constrained', type=float, default=12, help='per constrained classifier')
    p.add_argument('--minutes-healthy', type=float, default=30, help='the healthy-only diffusion model (fine-tuning)')
    p.add_argument('--refiner-steps', type=int, default=1600, help='optimizer steps per refiner, in all (a rerun continues to this total)')
    p.add_argument('--minutes-refiner', type=float, default=60, help='per refiner, at most (the pairs, made first, take ~7 min on 2 cores)')
    p.add_argument('--minutes-dae', type=float, default=15, help="Kascenas et al.'s coarse-noise denoising autoencoder (healthy slices)")
    p.add_argument('--lam', type=float, default=PROTOCOL.lam, help='weight of the attribution constraint')
    p.add_argument('--runs', default='runs/phantom', help='training checkpoints (resumable)')
    p.add_argument('--cache', default='runs/cache')
    p.add_argument('--assets', default='diffad/assets')
    p.add_argument('--threads', type=int, default=None)
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    runs, assets, lr = Path(a.runs), Path(a.assets), PROTOCOL.lr
    path, split = phantom_experiment(Path(a.cache), a.subjects)
    train = lambda *kinds, label=None: SliceDataset(path, subjects=[i for k in kinds for i in split[k][0]], label=label)
    t0 = time.time()
    if a.minutes_diffusion > 0:
        train_run('diffusion', train('tumour', 'ms'), runs / 'diffusion.pt', minutes=a.minutes_diffusion, lr=lr['diffusion'])
        export(runs / 'diffusion.pt', assets / 'phantom_diffusion.pt')
    for k in ('tumour', 'ms'):
        if a.minutes_classifier > 0:
            train_run('classifier', train(k), runs / f'classifier_{k}.pt', minutes=a.minutes_classifier, lr=lr['classifier'])
            export(runs / f'classifier_{k}.pt', assets / f'phantom_classifier_{k}.pt')
    for k in ('tumour', 'ms'):
        if a.minutes_constrained > 0:
            train_run('classifier', train(k), runs / f'classifier_{k}_constrained.pt', minutes=a.minutes_constrained, lr=lr['classifier_constrained'],
                      lam=a.lam, attribution=PROTOCOL.constraint, form=PROTOCOL.form, init=runs / f'classifier_{k}.pt')
            export(runs / f'classifier_{k}_constrained.pt', assets / f'phantom_classifier_{k}_constrained.pt')
    if a.minutes_healthy > 0:  # from the run's diffusion model if it is here, else from the shipped one
        init = runs / 'diffusion.pt' if (runs / 'diffusion.pt').exists() else assets / 'phantom_diffusion.pt'
        train_run('diffusion', train('tumour', 'ms', label=0), runs / 'diffusion_healthy.pt', minutes=a.minutes_healthy,
                  lr=lr['diffusion_healthy'], init=init)
        export(runs / 'diffusion_healthy.pt', assets / 'phantom_diffusion_healthy.pt')
    if a.minutes_dae > 0:  # the learned unsupervised baseline: healthy training slices of both cohorts, like the healthy model
        train_run('dae', train('tumour', 'ms', label=0), runs / 'dae.pt', minutes=a.minutes_dae, lr=lr['dae'])
        export(runs / 'dae.pt', assets / 'phantom_dae.pt')
    if a.minutes_refiner > 0 and a.refiner_steps > 0:  # Behrendt et al.: pairs from the shipped healthy model (the one the demo uses)
        healthy, sched, cfg = load_run_model(assets / 'phantom_diffusion_healthy.pt', 'diffusion')
        recon, f = dict(schedule=cfg['schedule'], T=cfg['T'], level=500, steps=10), runs / 'refiner_pairs.pt'
        if not f.exists():
            g = torch.Generator().manual_seed(0)
            pairs = dict(synthetic=make_pairs(healthy, sched, train('tumour', 'ms', label=0), True, 1, recon['level'], recon['steps'], g),
                         **{k: make_pairs(healthy, sched, train(k), False, 1, recon['level'], recon['steps'], g) for k in ('tumour', 'ms')})
            save_checkpoint(f, dict(recon=recon, **pairs))
        pairs = load_checkpoint(f)
        for k in ('tumour', 'ms', 'synthetic'):  # 'synthetic': no annotation at all (the self-supervised refiner)
            ps, annotated = (pairs[k], None) if k == 'synthetic' else (cat_pairs(pairs['synthetic'], pairs[k]), f'every {k} training subject')
            train_refiner(ps, runs / f'refiner_{k}.pt', pairs['recon'], minutes=a.minutes_refiner, steps=a.refiner_steps, lr=lr['refiner'],
                          data=dict(synthetic=True, annotated=annotated))
            export(runs / f'refiner_{k}.pt', assets / f'phantom_refiner_{k}.pt')
    print(f'done in {(time.time() - t0) / 60:.1f} min; exported to {assets}')
