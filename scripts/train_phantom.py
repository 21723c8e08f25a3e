#!/usr/bin/env python
"""Train the small phantom models that diffad ships (diffad/assets/phantom_*.pt).

    python scripts/train_phantom.py [--device cuda] [--steps-diffusion 15000] [--minutes 0] ...

The phantom experiment (`diffad.runs.phantom_experiment`): a realistic phantom cohort of tumour subjects
and one of MS subjects (128x128x96 volumes, 4 contrasts, `01_phantom`), each subject normalised by its
brain median, cut into 64x64 axial slices and split by subject (70/10/20, seed 0: the split the
notebooks use). One diffusion model is trained on the training slices of both cohorts (healthy and
diseased slices, as Wolleb et al. do), one noisy classifier per pathology (healthy vs diseased slices),
and per pathology the attribution-constrained noisy classifier that guides *combined*, *masked* and *fused*
(Wargnier-Dauchelle et al.'s constraint on noised slices; `--steps-constrained_share`), fine-tuned from the plain one with
the clean classifier's normalised constraint (`PROTOCOL.clean_constraint`: the share of the gradient mass over brain voxels,
which shrinking every gradient cannot lower), its λ chosen on validation as `09_combined` teaches: one guide per λ of `--guide-lams` (default `PROTOCOL.clean_lams`, trained in
the runs folder, not exported), each scored by `guide_accuracy` on every validation slice (averaged over t in
`PROTOCOL.guide_levels`), the grid extended past an edge while the edge decides (`choose_guide_lambda`), and the largest λ whose
guide beats always answering the commoner class exported, with that search in its configuration (`guide_search`; about half an hour per candidate on two CPU cores;
shipped 2026-12-03: the tumour's at λ = 1, the MS one's at λ = 0.1, `GUIDE_LAMBDA`); an earlier guide with the unnormalised constraint
(`--steps-constrained`: gradient, BCE form, λ = `--lam`, 1000; the same steps, learning rate and start), which shrinking every gradient
meets, kept as 09b's example of a constraint dodged; Wargnier-Dauchelle et al.'s own classifier on clean slices, fine-tuned from its control
(the same classifier without the constraint) with their constraint (the share of each healthy slice's gradient
mass that favours 'diseased', over brain voxels, `PROTOCOL.clean_constraint`, at the lambda `08_attribution`
chose on validation, `CLEAN_LAMBDA`; `CLEAN_STEPS` steps each, the budget `08_attribution` trains them with in
full mode); for Behrendt et al. (`10_refine`) a diffusion model of healthy slices only,
fine-tuned from the first one on the healthy training slices of both cohorts, and three refiners (the
segmentation UNet on slice / pseudo-healthy pairs): one per pathology, trained on synthetic anomalies
in the healthy training slices of both cohorts plus every annotated training slice of that pathology,
and one on the synthetic anomalies alone; and the learned unsupervised baseline, Kascenas et al.'s
denoising autoencoder (the same UNet at t = 0, trained on the healthy training slices of both cohorts
to remove coarse noise); and Wolleb et al.'s class-conditional diffusion model (`--steps-conditional`,
`07_wolleb`), fine-tuned from the first one with a zero label embedding, beside its control fine-tuned for the same
steps without the labels; and the healthy model as Behrendt et al. train it (`--steps-healthy_scratch`): from scratch on
the healthy training slices only, for as many optimizer steps as the shipped fine-tuned one had in all — the 2672 steps of
the all-slices checkpoint it was fine-tuned from (its configuration's `init`) plus its own 871, 3543 — so that the two differ
in what they saw, not in how long they trained (a run that trains every stage from zero fine-tunes from the 5000-step model:
give it --steps-healthy_scratch 5875 to keep them equal). And Wargnier-Dauchelle et al.'s clean classifier constrained on the other attributions (`--steps-clean_constrained_eg`, `_mix`, `_ig`: expected gradients, the paper's mix of
gradient / integrated / expected gradients, integrated gradients), each fine-tuned from the same plain clean classifier for
as many steps (500, the gradient one's) at the same λ (`CLEAN_LAMBDA`, chosen on validation for the gradient), with `TRAIN_EG_REFS` references and
`TRAIN_IG_STEPS` points per training step (`10b_runs`), all shipped: the expected-gradients ones (13.5 min each on two
CPU cores), the mixes (62 min for the tumour's, 80 for the MS one's, when the gradient and integrated gradients were computed on
every slice of the batch; `constrained_loss` now computes them on its healthy slices alone, the only ones the penalty reads,
for the same step: `bench/bench_constraint_step.py`) and the integrated-gradients ones (64 min for the tumour's, 69 for the MS one's). Learning rates are the protocol's. The refiners' pairs (reconstructions at
L=500, 10 DDPM steps, by the healthy model) are made once and kept in the runs folder.

Budgets are optimizer steps of batches of 32 slices (machine-independent; the defaults are about the
steps the shipped networks reached — most of them on one H200 GPU in 11 minutes in all: 0.05 s per diffusion step there, against
about 1.4 s per step of 16 slices on 2 CPU cores, so expect hours on a CPU; the clean classifiers, the class-conditional model and
the from-scratch healthy model were trained on two CPU cores, each file's configuration records where and how long); `--minutes` also caps the whole run, shared out between the stages in proportion to their default steps, so a run
on a slow machine stops early rather than late (each exported file records the steps it reached). A
stage with 0 steps is skipped; `--only STAGE [STAGE ...]` trains the named stages alone (every other stage 0 steps), e.g.
`--only clean_constrained_eg` for the expected-gradients classifiers without retraining the rest, and `--pathologies ms` the
classifiers of one pathology alone (a run whose checkpoints are gone would otherwise train the other one again). Checkpoints are resumable (rerunning continues where a run stopped; a network already at its steps is not exported again); the
EMA weights are exported in float16 to the assets folder, which the notebooks and `diffad demo` load,
with their configuration and their budget (steps, batch size, device, and the training seconds summed over every
run that trained it: a run stopped and resumed records the time of both; checkpoints written before the trainer kept
that sum record the seconds of the run that exported them).
"""
import argparse, sys, time, traceback
from pathlib import Path
import torch
from diffad.data import SliceDataset
from diffad.training import load_checkpoint, save_checkpoint
from diffad.refine import make_pairs, cat_pairs
from diffad.runs import train_run, train_refiner, phantom_experiment, load_run_model, PHANTOM_SUBJECTS, PHANTOM_DIFFICULTY, PHANTOM_NORM, CLEAN_STEPS, CLEAN_LAMBDA
from diffad.combined import guide_accuracy, search_guide_lambda
from diffad.benchmark import PROTOCOL

STEPS = dict(diffusion=5000, classifier=1550, constrained=575, constrained_share=575, healthy=875, dae=775, refiner=750, clean=CLEAN_STEPS, clean_constrained=CLEAN_STEPS,
             conditional=875, healthy_scratch=3543, clean_constrained_eg=CLEAN_STEPS, clean_constrained_mix=CLEAN_STEPS, clean_constrained_ig=CLEAN_STEPS)  # about the shipped networks' (see their configs)
STAGES = dict(diffusion=1, classifier=2, constrained=2, constrained_share=2 * len(PROTOCOL.clean_lams), healthy=1, dae=1, refiner=3, clean=2, clean_constrained=2, conditional=2, healthy_scratch=1, clean_constrained_eg=2, clean_constrained_mix=2, clean_constrained_ig=2)  # networks per stage
COST = dict(diffusion=1., classifier=.5, constrained=1.6, constrained_share=1.6, healthy=1., dae=1., refiner=1., clean=.5, clean_constrained=1.6, conditional=1., healthy_scratch=1.,
            clean_constrained_eg=3.2, clean_constrained_mix=5.3, clean_constrained_ig=11.)  # relative cost of a step (for --minutes; the path attributions' at TRAIN_EG_REFS / TRAIN_IG_STEPS, measured on 2 CPU cores 2026-12-03;
# the gradient's and IG's scaled by what computing them on the healthy slices alone saves: bench/bench_constraint_step.py, and IG's 8 s a step in the 2026-12-04 run; the mix the mean of its three)

def only_stages(steps:dict, only:list|None) -> dict:
    "The steps of each stage, every stage not in `only` at 0 (`only` None: all as given)."
    if only is None: return dict(steps)
    unknown = [k for k in only if k not in steps]
    if unknown: raise ValueError(f"--only: unknown stage {', '.join(unknown)}; the stages are {', '.join(steps)}")
    return {k: v if k in only else 0 for k, v in steps.items()}

def export(ckpt:Path, out:Path, budget:dict, seconds:float, extra:dict|None=None):
    "EMA weights (float16), configuration and training budget of a checkpoint, for shipping: its steps, and its training seconds over every run (`seconds`, this run's, where the checkpoint predates that sum); `extra` joins the configuration (e.g. how it was chosen)."
    ck = load_checkpoint(ckpt)
    sd = {k: v.half() if v.is_floating_point() else v for k, v in ck['ema']['model'].items()}
    save_checkpoint(out, dict(config=dict(ck['config'], budget=dict(budget, steps=int(ck['step']), seconds=round(ck.get('seconds') or seconds)), **(extra or {})), model=sd, step=ck['step']))

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--subjects', type=int, default=PHANTOM_SUBJECTS, help='subjects per pathology')
    p.add_argument('--difficulty', default=PHANTOM_DIFFICULTY, choices=('easy', 'realistic'))
    p.add_argument('--norm', default=PHANTOM_NORM, choices=('percentile', 'median'))
    for k, v in STEPS.items(): p.add_argument(f'--steps-{k}', type=int, default=v, help=f'optimizer steps{" per network" if STAGES[k] > 1 else ""} (default {v})')
    p.add_argument('--minutes', type=float, default=0, help='cap on the whole training, shared out between the stages (0: none)')
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--lam', type=float, default=PROTOCOL.lam, help="weight of stage constrained's 'bce' constraint (the earlier guide, 09b's example of a constraint dodged; not the guide of the combinations)")
    p.add_argument('--guide-lams', type=float, nargs='+', default=list(PROTOCOL.clean_lams), metavar='λ',
                   help="the constrained_share stage's candidate λ, one guide each (default: the clean classifier's grid)")
    p.add_argument('--runs', default='runs/phantom', help='training checkpoints (resumable)')
    p.add_argument('--cache', default='runs/cache')
    p.add_argument('--assets', default='diffad/assets')
    p.add_argument('--device', default=None, help='default: CUDA if present')
    p.add_argument('--workers', type=int, default=1, help='processes making the phantom subjects')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--pathologies', nargs='+', default=['tumour', 'ms'], choices=('tumour', 'ms'),
                   help="the per-pathology networks (classifiers) of these pathologies alone, e.g. --only clean_constrained_mix --pathologies ms (default: both)")
    p.add_argument('--only', nargs='+', default=None, metavar='STAGE', help=f"train these stages alone, every other one at 0 steps (stages: {', '.join(STEPS)})")
    a = p.parse_args()
    try: steps = only_stages({k: getattr(a, f'steps_{k}') for k in STEPS}, a.only)
    except ValueError as e: p.error(str(e))
    if a.threads: torch.set_num_threads(a.threads)
    dev = torch.device(a.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    runs, assets, lr = Path(a.runs), Path(a.assets), PROTOCOL.lr
    t0 = time.time()
    path, split = phantom_experiment(Path(a.cache), a.subjects, norm=a.norm, difficulty=a.difficulty, workers=a.workers)
    print(f'phantom experiment ready in {time.time() - t0:.0f} s: {path}', flush=True)
    work = sum(steps[k] * STAGES[k] * COST[k] for k in STEPS)
    cap = lambda k: a.minutes * steps[k] * COST[k] / work if a.minutes else None  # minutes per network of stage k
    train = lambda *kinds, label=None: SliceDataset(path, subjects=[i for k in kinds for i in split[k][0]], label=label)
    kw = dict(batch_size=a.batch, device=dev)

    failed = []
    def stage(k:str, name:str, fn, ship:bool=True):  # a stage that fails is reported, and the others still run; ship=False: trained, not exported (a candidate)
        t, ckpt, out = time.time(), runs / f'{name}.pt', assets / f'phantom_{name}.pt'
        before = load_checkpoint(ckpt)['step'] if ckpt.exists() else None
        try: fn(steps[k], cap(k))
        except Exception: traceback.print_exc(); failed.append(name); return
        ck = load_checkpoint(ckpt)
        if not ship: print(f"{name}: {ck['step']} steps, {time.time() - t:.0f} s this run (a candidate: not exported)", flush=True); return
        if ck['step'] == before and out.exists():   # nothing trained now: the exported file stays as it is (its budget is the runs' that trained it)
            print(f'{name}: already at {before} steps, {out} kept', flush=True); return
        export(ckpt, out, dict(batch_size=a.batch, device=dev.type), time.time() - t)
        print(f"{name}: {ck['step']} steps in {time.time() - t:.0f} s, loss of the last 200 {ck['losses'][-200:].mean():.4f}", flush=True)

    if steps['diffusion']:
        stage('diffusion', 'diffusion', lambda n, m: train_run('diffusion', train('tumour', 'ms'), runs / 'diffusion.pt', n, m, lr=lr['diffusion'], **kw))
    for k in a.pathologies if steps['classifier'] else ():
        stage('classifier', f'classifier_{k}', lambda n, m: train_run('classifier', train(k), runs / f'classifier_{k}.pt', n, m, lr=lr['classifier'], **kw))
    noisy_start = lambda k: runs / f'classifier_{k}.pt' if (runs / f'classifier_{k}.pt').exists() else assets / f'phantom_classifier_{k}.pt'   # the run's, else the shipped one
    for k in a.pathologies if steps['constrained'] else ():
        stage('constrained', f'classifier_{k}_constrained', lambda n, m: train_run(
            'classifier', train(k), runs / f'classifier_{k}_constrained.pt', n, m, lr=lr['classifier_constrained'],
            lam=a.lam, attribution=PROTOCOL.constraint, form=PROTOCOL.form, init=noisy_start(k), **kw))
    for k in a.pathologies if steps['constrained_share'] else ():  # the same guide with the clean classifier's normalised constraint, its λ chosen on validation (09)
        val = SliceDataset(path, subjects=split[k][1])
        x, y = torch.stack([torch.as_tensor(val[i]['image']) for i in range(len(val))]).to(dev), torch.as_tensor(val.labels).to(dev)
        def accuracy_at(lam):   # one candidate per λ, trained and scored on validation; None: its training failed
            name = f'classifier_{k}_constrained_share_lam{lam:g}'
            stage('constrained_share', name, lambda n, m: train_run('classifier', train(k), runs / f'{name}.pt', n, m, lr=lr['classifier_constrained'],
                                                                    lam=lam, **PROTOCOL.clean_constraint, init=noisy_start(k), **kw), ship=False)
            if name in failed: return None
            guide, gsched, _ = load_run_model(runs / f'{name}.pt', 'classifier', dev)
            r = guide_accuracy(guide, x, y, gsched, PROTOCOL.guide_levels)
            print(f"{k} guide at λ = {lam:g}: validation accuracy {r['accuracy']:.3f} (always the commoner class {r['majority']:.3f}) "
                  f"{'classifies' if r['classifies'] else 'does not classify'}", flush=True)
            return r
        c, acc = search_guide_lambda(accuracy_at, a.guide_lams, PROTOCOL.extend)   # the grid extended past an edge while the edge decides
        if c is None: continue   # a candidate's training failed (said by `stage`): nothing exported
        if c['lam'] is None: print(f"{k}: no guide classifies on validation (λ tried: {sorted(acc)}); nothing exported"
                                  + (f" (phantom_classifier_{k}_constrained_share.pt is an earlier run's)" if (assets / f'phantom_classifier_{k}_constrained_share.pt').exists() else ''), flush=True); failed.append(f'classifier_{k}_constrained_share'); continue
        search = dict(rule=f"the largest λ whose guide's validation accuracy, averaged over t in {list(PROTOCOL.guide_levels)}, is above always answering the commoner class (choose_guide_lambda)",
                      lam=c['lam'], at_edge=c['at_edge'], validation_slices=len(val),
                      accuracy={f'{l:g}': dict(accuracy=round(r['accuracy'], 4), per_level=r['per_level'], majority=round(r['majority'], 4), classifies=r['classifies'])
                                for l, r in sorted(acc.items())})
        export(runs / f"classifier_{k}_constrained_share_lam{c['lam']:g}.pt", assets / f'phantom_classifier_{k}_constrained_share.pt', dict(batch_size=a.batch, device=dev.type), 0.,
               dict(guide_search=search))
        print(f"{k}: the guide at λ = {c['lam']:g} exported to {assets / f'phantom_classifier_{k}_constrained_share.pt'}", flush=True)
    for k in a.pathologies if steps['clean'] else ():  # Wargnier-Dauchelle et al.'s baseline: a classifier of clean slices (08)
        stage('clean', f'classifier_{k}_clean', lambda n, m: train_run('classifier', train(k), runs / f'classifier_{k}_clean.pt', n, m,
                                                                       lr=lr['classifier_clean_constrained'], noised=False, **kw))
    for k in a.pathologies if steps['clean_constrained'] else ():  # and their method: the same, fine-tuned from it with their constraint at the λ 08 chose
        stage('clean_constrained', f'classifier_{k}_clean_constrained', lambda n, m: train_run(
            'classifier', train(k), runs / f'classifier_{k}_clean_constrained.pt', n, m, lr=lr['classifier_clean_constrained'], noised=False,
            lam=CLEAN_LAMBDA[k], **PROTOCOL.clean_constraint, init=runs / f'classifier_{k}_clean.pt', **kw))
    clean_start = lambda k: runs / f'classifier_{k}_clean.pt' if (runs / f'classifier_{k}_clean.pt').exists() else assets / f'phantom_classifier_{k}_clean.pt'   # the run's, else the shipped one
    for tag, attribution in (('eg', 'expected_gradients'), ('mix', 'mix'), ('ig', 'integrated_gradients')):   # their constraint on the other attributions (08): same λ, start, steps
        for k in a.pathologies if steps[f'clean_constrained_{tag}'] else ():
            stage(f'clean_constrained_{tag}', f'classifier_{k}_clean_constrained_{tag}', lambda n, m: train_run(
                'classifier', train(k), runs / f'classifier_{k}_clean_constrained_{tag}.pt', n, m, lr=lr['classifier_clean_constrained'], noised=False,
                lam=CLEAN_LAMBDA[k], **dict(PROTOCOL.clean_constraint, attribution=attribution), init=clean_start(k), **kw))
    if steps['healthy']:  # from the run's diffusion model if it is here, else from the shipped one
        init = runs / 'diffusion.pt' if (runs / 'diffusion.pt').exists() else assets / 'phantom_diffusion.pt'
        stage('healthy', 'diffusion_healthy', lambda n, m: train_run('diffusion', train('tumour', 'ms', label=0), runs / 'diffusion_healthy.pt', n, m,
                                                                     lr=lr['diffusion_healthy'], init=init, **kw))
    if steps['healthy_scratch']:  # Behrendt et al.'s setting: a healthy model that has never seen a lesion, from scratch on the healthy slices, for as many
        # steps as the fine-tuned one had in all (diffusion + healthy), so that the two differ in what they saw, not in how long they trained (10_refine)
        stage('healthy_scratch', 'diffusion_healthy_scratch', lambda n, m: train_run('diffusion', train('tumour', 'ms', label=0), runs / 'diffusion_healthy_scratch.pt',
                                                                                   n, m, lr=lr['diffusion'], **kw))
    if steps['conditional']:  # Wolleb et al.'s class-conditional model (07), from the diffusion model with a zero label embedding (it starts as that model) ...
        init = runs / 'diffusion.pt' if (runs / 'diffusion.pt').exists() else assets / 'phantom_diffusion.pt'
        stage('conditional', 'diffusion_conditional', lambda n, m: train_run('diffusion', train('tumour', 'ms'), runs / 'diffusion_conditional.pt', n, m,
                                                                           lr=lr['diffusion_healthy'], init=init, conditional=True, **kw))
        # ... and its control: the same slices and steps without the labels, so that a difference is the conditioning's, not the extra training's
        stage('conditional', 'diffusion_conditional_control', lambda n, m: train_run('diffusion', train('tumour', 'ms'), runs / 'diffusion_conditional_control.pt', n, m,
                                                                                   lr=lr['diffusion_healthy'], init=init, **kw))
    if steps['dae']:  # the learned unsupervised baseline: healthy training slices of both cohorts, like the healthy model
        stage('dae', 'dae', lambda n, m: train_run('dae', train('tumour', 'ms', label=0), runs / 'dae.pt', n, m, lr=lr['dae'], **kw))
    if steps['refiner'] and (assets / 'phantom_diffusion_healthy.pt').exists():  # Behrendt et al.: pairs from the exported healthy model (the one the demo uses)
        healthy, sched, cfg = load_run_model(assets / 'phantom_diffusion_healthy.pt', 'diffusion', dev)
        recon, f = dict(schedule=cfg['schedule'], T=cfg['T'], level=500, steps=10), runs / 'refiner_pairs.pt'
        if not f.exists():
            t = time.time()
            g = torch.Generator(dev).manual_seed(0)
            mp = lambda ds, syn: make_pairs(healthy, sched, ds, syn, 1, recon['level'], recon['steps'], g, 64, dev)
            save_checkpoint(f, dict(recon=recon, synthetic=mp(train('tumour', 'ms', label=0), True), **{k: mp(train(k), False) for k in ('tumour', 'ms')}))
            print(f'refiner pairs in {time.time() - t:.0f} s', flush=True)
        pairs = load_checkpoint(f)
        for k in ('tumour', 'ms', 'synthetic'):  # 'synthetic': no annotation at all (the self-supervised refiner)
            ps, annotated = (pairs[k], None) if k == 'synthetic' else (cat_pairs(pairs['synthetic'], pairs[k]), f'every {k} training subject')
            stage('refiner', f'refiner_{k}', lambda n, m: train_refiner(ps, runs / f'refiner_{k}.pt', pairs['recon'], n, m, lr=lr['refiner'],
                                                                         data=dict(synthetic=True, annotated=annotated), **kw))
    print(f'done in {(time.time() - t0) / 60:.1f} min; exported to {assets}' + (f'; FAILED: {failed}' if failed else ''))
    sys.exit(1 if failed else 0)
