"""The `diffad` command as a user runs it: installed entry point, subprocesses, files on disk."""
import subprocess
import numpy as np
import torch
import diffad
from diffad.benchmark import PROTOCOL

def run(*args, **kw):
    return subprocess.run(['diffad', *args], capture_output=True, text=True, timeout=600, **kw)

def test_version_and_help():
    r = run('--version')
    assert r.returncode == 0 and r.stdout.strip() == f'diffad {diffad.__version__}'
    r = run('--help')
    assert r.returncode == 0 and 'demo' in r.stdout

def test_unknown_command_is_a_usage_error():
    r = run('frobnicate')
    assert r.returncode == 2 and 'invalid choice' in r.stderr

def test_demo_small(tmp_path):
    "The demo as a user runs it, with fewer subjects and steps (the full one is timed in bench/bench_product.py)."
    import json
    out = tmp_path / 'demo'
    r = run('demo', '--out', str(out), '--subjects', '2', '--steps', '2', env={'DIFFAD_DEVICE': 'cpu', **__import__('os').environ})
    assert r.returncode == 0, r.stderr[-2000:]
    assert '| cohort | method |' in r.stdout and '| ms | combined |' in r.stdout and '| tumour | refine |' in r.stdout
    res = json.loads((out / 'results.json').read_text())
    assert len(res['rows']) == 26 and res['versions']['diffad'] == diffad.__version__   # 13 rows per pathology, the baselines first
    assert [row['method'] for row in res['rows'][:3]] == ['intensity', 'intensity (percentile norm)', 'dae']
    assert 'the best baseline is' in r.stdout and 'its intervals are wide' in r.stdout and "Wolleb et al.'s protocol" in r.stdout
    assert all(row['metrics']['n_healthy_subjects'] == 1 for row in res['rows'])   # a healthy subject among the test subjects
    refine = [row for row in res['rows'] if row['method'] == 'refine']
    assert [(row['level'], row['steps']) for row in refine] == [(500, 10)] * 2  # the shipped refiners' reconstruction settings
    from diffad.benchmark import PHANTOM_CHOICES   # every diffusion method at the L (and s) chosen on the phantom's validation subjects (09_combined)
    assert all(row['level'] == PHANTOM_CHOICES[row['cohort']][row['method']]['level'] and row.get('scale', 0.) == PHANTOM_CHOICES[row['cohort']][row['method']].get('scale', 0.)
               for row in res['rows'] if row['method'] in PHANTOM_CHOICES['tumour'])
    assert (out / 'figure_tumour.png').exists() and (out / 'figure_ms.png').exists()
    assert res['settings']['every'] == 3 and 'one slice in 3 of each' in r.stdout  # the default subsampling, said under the table
    det = json.loads(next((out / 'maps').glob('tumour/wolleb/detect.json')).read_text())
    assert all(len(z) > 5 and all(b - a == 3 for a, b in zip(z, z[1:])) for z in det['z'].values())  # every third slice of each subject was scored

def test_demo_rejects_bad_arguments(tmp_path):
    r = run('demo', '--out', str(tmp_path / 'x'), '--subjects', '1')
    assert r.returncode == 2 and "--subjects must be at least 2" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()  # nothing written

EASY = ('--difficulty', 'easy', '--healthy-fraction', '0')  # the mechanics tests keep the simple phantom (the realistic one is tested in 01_phantom and test_phantom.py)

def test_benchmark_on_a_synth_cohort(tmp_path):
    "synth -> benchmark (train within a budget, choose s, every method, results, maps); a second run resumes."
    import json, nibabel as nib
    cohort, out = tmp_path / 'cohort', tmp_path / 'results'
    assert run_ok('synth', *EASY, '--out', cohort, '--kind', 'tumour', '--subjects', '10', '--shape', '32', '32', '24', '--layout', 'brats2023')
    args = ('benchmark', '--data', cohort, '--out', out, '--minutes', '0.1', '--image-size', '32', '--steps', '2', '--level', '200', '--batch', '8',
            '--levels', '200', '--annotated', '2')
    r = run(*map(str, args))
    assert r.returncode == 0, r.stderr[-2000:]
    assert '| cohort | method |' in r.stdout and '| cohort | combined |' in r.stdout
    res = json.loads((out / 'results.json').read_text())
    methods = [row['method'] for row in res['rows']]
    assert {'wolleb', 'combined', 'masked', 'fused', 'reconstruction', 'partial-diffusion',
            'attribution expected_gradients (constrained)', 'attribution integrated_gradients (plain)',
            'pseudo-healthy-residual', 'refine', 'refine-control', 'attribution gradient (constrained, clean)'} <= set(methods) and len(methods) == 21
    assert methods[:3] == ['intensity', 'intensity (percentile norm)', 'dae']   # the baselines first
    ch = res['settings']['choices']
    assert set(ch) == {'wolleb', 'combined', 'masked', 'fused', 'reconstruction', 'partial-diffusion'} and res['settings']['refiner'] == {'annotated': 2}
    assert all(ch[m]['level'] == 200 for m in ch) and all(len(ch[m]['search']['200']) >= 4 for m in ('wolleb', 'combined', 'masked'))
    for row in res['rows']:   # CIs, supervision, what validation chose, the comparison with the best baseline
        assert row['supervision'] and row['validation'].startswith('threshold (') and '[' in row['dice_star'] and row['beats_baseline']
    assert 'the best baseline is' in ' '.join(res['verdicts']) and set(res['settings']['cost']) >= {'diffusion', 'dae', 'refiner'}
    rc = torch.load(out / 'run' / 'refiner.pt', weights_only=True)['config']
    assert rc['recon'] == dict(level=200, steps=2) and len(rc['data']['annotated']) == 2 and rc['data']['synthetic'] and rc['data']['training_subjects'] == 7
    cc = torch.load(out / 'run' / 'refiner_control.pt', weights_only=True)['config']   # the control: the same pairs, the slice alone
    assert cc['data'] == rc['data'] and cc['recon'] == rc['recon'] and rc['model'].get('pseudo_healthy', True) and cc['model']['pseudo_healthy'] is False
    wc = torch.load(out / 'run' / 'classifier_clean_constrained.pt', weights_only=True)['config']['training']   # Wargnier-Dauchelle et al.'s own
    cl = res['settings']['clean_lambda']   # its λ, chosen on validation among the protocol's grid (grown past an edge)
    assert wc == dict(noised=False, lam=cl['lam'], **PROTOCOL.clean_constraint) and set(PROTOCOL.clean_lams) <= {float(l) for l in cl['search']}   # the share penalty over brain voxels
    gc = torch.load(out / 'run' / 'classifier_constrained.pt', weights_only=True)['config']['training']   # the guide: the share form at the λ that still classifies
    gl = res['settings']['guide_lambda']
    assert gc == dict(noised=True, lam=gl['lam'], **PROTOCOL.clean_constraint) and set(PROTOCOL.clean_lams) <= {float(l) for l in gl['accuracy']}
    assert gl['levels'] == list(PROTOCOL.guide_levels) and all(r['classifies'] == (r['accuracy'] > r['majority']) for r in gl['accuracy'].values())
    assert f"guide λ = {gl['lam']:g}" in {row['method']: row for row in res['rows']}['combined']['validation'] and 'The guide of combined' in (out / 'results.md').read_text()
    hc = torch.load(out / 'run' / 'diffusion_healthy.pt', weights_only=True)['config']
    assert hc['kind'] == 'diffusion' and (out / 'run' / 'diffusion_healthy.done').exists()
    assert (out / 'results.md').exists() and (out / 'figure.png').exists() and '### At native resolution' in (out / 'results.md').read_text()
    sec, by = res['settings']['seconds'], {row['method']: row for row in res['rows']}   # where the time went, and the network evaluations per slice
    assert cl['dice_star'] == max(cl['search'].values()) and f"λ = {cl['lam']:g}" in by['attribution gradient (constrained, clean)']['validation']
    ig = res['settings']['ig_steps']   # integrated gradients' points, checked per classifier on validation slices, in each IG row
    assert sec['check IG points'] > 0   # and what the check cost
    assert all(min(map(int, v['changes'])) == PROTOCOL.ig_start for v in ig.values())   # doubled from the protocol's start
    assert set(ig) == {'plain', 'constrained', 'clean_constrained'} and all(by[f"attribution integrated_gradients ({c})"]['ig_points'] == ig[k]['steps']
                                                                            for k, c in (('plain', 'plain'), ('clean_constrained', 'constrained, clean')))
    assert sec['prepare'] > 0 and sec['choose L and s'] > 0 and set(sec['train']) >= {'diffusion', 'refiner'} and all(v > 0 for v in sec['train'].values())
    assert by['intensity']['nfe_per_slice'] == {} and by['wolleb']['seconds_evaluating'] > 0 and by['wolleb']['slices_evaluated'] > 0
    assert by['wolleb']['nfe_per_slice']['UNet'] == 4 and by['combined']['nfe_per_slice']['UNet'] == 2   # 2 steps each way; combined reuses wolleb's encoding
    md = (out / 'results.md').read_text()   # a 10-subject cohort tests 2 patients: the table says what that cannot show
    assert 'fewer than 10: its intervals are wide' in md and 'No healthy subject is in the test set' in md and 'the intervals will be wide' in r.stderr
    row = next(row for row in res['rows'] if row['method'] == 'combined')   # `evaluate` on the benchmark's maps: the benchmark's native numbers
    r = run('evaluate', '--data', str(cohort), '--maps', str(out / 'maps' / 'cohort' / 'combined'))
    assert r.returncode == 0, r.stderr[-2000:]
    assert row['native']['grid'] == 'native (32x32 slices)' and all(f"| {row['native'][k]} |" in r.stdout for k in ('dice_star', 'dice', 'auroc'))
    split = json.loads((out / 'run' / 'split.json').read_text())
    for sid in split['test']:
        m, ref = nib.load(out / 'maps' / 'cohort' / 'combined' / sid / f'{sid}_anomaly.nii.gz'), nib.load(cohort / sid / f'{sid}-t2f.nii.gz')
        assert m.shape == ref.shape and (m.affine == ref.affine).all()
    r = run(*map(str, args[:-2]), '--annotated', '99')   # more annotated subjects than training subjects
    assert r.returncode == 2 and '--annotated 99: the run has 7 training subjects' in r.stderr and 'Traceback' not in r.stderr
    r = run(*map(str, args[:-2]), '--annotated', '1')    # the results folder's refiner was trained with 2
    assert r.returncode == 2 and 'annotated: 2 when the run was made, 1 now' in r.stderr and 'another output folder' in r.stderr
    stamp = (out / 'run' / 'diffusion.pt').stat().st_mtime_ns
    r = run(*map(str, args[:11]), '--level', '100', *map(str, args[13:]))   # another L: refused, naming it, before any work
    assert r.returncode == 2 and 'level: 200 when the run was made, 100 now' in r.stderr and 'Traceback' not in r.stderr
    assert (out / 'run' / 'diffusion.pt').stat().st_mtime_ns == stamp
    stamp = (out / 'methods' / 'cohort_wolleb.json').stat().st_mtime_ns
    r2 = run(*map(str, args))   # everything is recorded: nothing is trained or computed again
    assert r2.returncode == 0 and (out / 'methods' / 'cohort_wolleb.json').stat().st_mtime_ns == stamp
    again = json.loads((out / 'results.json').read_text())['rows']
    assert [(x['method'], x['dice_star'], x['auroc']) for x in again] == [(x['method'], x['dice_star'], x['auroc']) for x in res['rows']]

def test_synth_writes_a_readable_brats_cohort(tmp_path):
    "The defaults: the realistic phantom, a fifth of the subjects healthy; what synth writes is what make_cohort makes."
    out = tmp_path / 'cohort'
    r = run('synth', '--out', str(out), '--kind', 'tumour', '--subjects', '5', '--seed', '4', '--shape', '32', '32', '24')
    assert r.returncode == 0, r.stderr
    assert 'wrote 5 subjects (4 tumour, 1 healthy; realistic)' in r.stdout
    from diffad.data import find_subjects, load_subject, detect_layout
    from diffad.phantom import make_cohort
    assert detect_layout(out) == 'brats2020'
    folders = find_subjects(out)
    assert sorted(f.name for f in folders) == sorted([f'phantom-tumour-{i:03d}' for i in range(4)] + ['phantom-healthy-000'])
    refs = {s.id: s for s in make_cohort(5, 'tumour', 4, (32, 32, 24), healthy_fraction=0.2, difficulty='realistic')}
    for f in folders:
        s, ref = load_subject(f), refs[f.name]
        assert (s.images == ref.images).all() and (s.seg == ref.seg).all() and (s.affine == ref.affine).all()
    assert run_ok('synth', '--out', tmp_path / 'b', '--kind', 'tumour', '--subjects', '5', '--seed', '4', '--shape', '32', '32', '24', '--site', 'B')
    b = load_subject(tmp_path / 'b' / 'phantom-tumour-000')   # another scanner: the same anatomy and lesions, other contrasts
    a = refs['phantom-tumour-000']
    assert (b.seg == a.seg).all() and not np.allclose(b.images, a.images)
    assert (b.images == next(s for s in make_cohort(5, 'tumour', 4, (32, 32, 24), healthy_fraction=0.2, difficulty='realistic', site='B') if s.id == a.id).images).all()

def test_synth_bad_arguments(tmp_path):
    r = run('synth', '--out', str(tmp_path / 'c'), '--kind', 'glioma')
    assert r.returncode == 2 and 'invalid choice' in r.stderr
    r = run('synth', '--out', str(tmp_path / 'c'), '--subjects', '0')
    assert r.returncode == 2 and '--subjects must be at least 1' in r.stderr and not (tmp_path / 'c').exists()
    r = run('synth', '--out', str(tmp_path / 'c'), '--site', 'Z')
    assert r.returncode == 2 and 'invalid choice' in r.stderr and not (tmp_path / 'c').exists()

def test_wolleb_round_trip_from_the_command_line(tmp_path):
    "synth -> train-diffusion -> train-classifier -> detect -> evaluate; maps live in each subject's space."
    import json, nibabel as nib
    cohort, rdir, maps = tmp_path / 'cohort', tmp_path / 'run', tmp_path / 'maps'
    assert run_ok('synth', *EASY, '--out', cohort, '--kind', 'ms', '--subjects', '5', '--shape', '32', '32', '24')
    for kind in ('diffusion', 'classifier'):
        assert run_ok(f'train-{kind}', '--data', cohort, '--out', rdir, '--image-size', '32', '--steps', '3', '--batch', '4')
    assert run_ok('detect', '--data', cohort, '--run', rdir, '--out', maps, '--level', '250', '--scale', '20', '--steps', '3')
    test_ids = json.loads((rdir / 'split.json').read_text())['test']
    assert test_ids and sorted(p.name for p in maps.iterdir() if p.is_dir()) == test_ids
    for sid in test_ids:
        m, ref = nib.load(maps / sid / f'{sid}_anomaly.nii.gz'), nib.load(cohort / sid / f'{sid}_flair.nii.gz')
        assert m.shape == ref.shape and (m.affine == ref.affine).all()
    r = run('evaluate', '--data', str(cohort), '--maps', str(maps), '--out', str(tmp_path / 'metrics.json'))
    assert r.returncode == 0, r.stderr
    assert '| method |' in r.stdout and 'wolleb' in r.stdout
    res = json.loads((tmp_path / 'metrics.json').read_text())
    assert 0 <= res['auroc'] <= 1 and res['method'] == 'wolleb'
    assert run_ok('detect', '--data', cohort, '--run', rdir, '--out', tmp_path / 'm2', '--level', '250', '--scale', '20', '--steps', '3', '--solver', 'dpm++2m')
    info = json.loads((tmp_path / 'm2' / 'detect.json').read_text())   # the second-order solver: recorded, and another map
    assert info['solver'] == 'dpm++2m' and 'solver' not in json.loads((maps / 'detect.json').read_text())
    sid = test_ids[0]
    assert not np.array_equal(nib.load(maps / sid / f'{sid}_anomaly.nii.gz').get_fdata(), nib.load(tmp_path / 'm2' / sid / f'{sid}_anomaly.nii.gz').get_fdata())
    r = run('detect', '--data', str(cohort), '--run', str(rdir), '--out', str(tmp_path / 'm3'), '--solver', 'euler')
    assert r.returncode == 2 and "invalid choice: 'euler'" in r.stderr and not (tmp_path / 'm3').exists()

def test_combined_and_attribution_from_the_command_line(tmp_path):
    "synth -> train-diffusion -> train-classifier --lambda (constrained) -> detect combined / attribution (EG) -> evaluate."
    import json, nibabel as nib
    cohort, rdir = tmp_path / 'cohort', tmp_path / 'run'
    assert run_ok('synth', *EASY, '--out', cohort, '--kind', 'tumour', '--subjects', '5', '--shape', '32', '32', '24', '--seed', '3')
    assert run_ok('train-diffusion', '--data', cohort, '--out', rdir, '--image-size', '32', '--steps', '2', '--batch', '4')
    assert run_ok('train-classifier', '--data', cohort, '--out', rdir, '--image-size', '32', '--steps', '2', '--batch', '4',
                  '--lambda', '100', '--constraint', 'mix', '--form', 'paper', '--normalise', '--brain-only', '--ig-steps', '2')
    ck = torch.load(rdir / 'classifier_constrained.pt', weights_only=True)
    assert ck['config']['training'] == dict(noised=True, lam=100., attribution='mix', form='paper', normalise=True, brain=True, ig_steps=2, eg_refs=1) and ck['step'] == 2   # the path attributions' points per step
    assert not (rdir / 'classifier.pt').exists()
    for method, extra in (('combined', ()), ('attribution', ('--attribution', 'expected-gradients'))):
        maps = tmp_path / method
        assert run_ok('detect', '--data', cohort, '--run', rdir, '--out', maps, '--method', method, '--level', '200', '--scale', '30', '--steps', '2', *extra)
        info = json.loads((maps / 'detect.json').read_text())
        assert info['method'] == method and info['classifier'] == 'classifier_constrained'
        for sid in info['subjects']:
            m, ref = nib.load(maps / sid / f'{sid}_anomaly.nii.gz'), nib.load(cohort / sid / f'{sid}_t1.nii.gz')
            assert m.shape == ref.shape and (m.affine == ref.affine).all() and (m.get_fdata() >= 0).all()
        r = run('evaluate', '--data', str(cohort), '--maps', str(maps))
        assert r.returncode == 0 and method in r.stdout, r.stderr
    r = run('detect', '--data', str(cohort), '--run', str(rdir), '--out', str(tmp_path / 'w'), '--method', 'wolleb')
    assert r.returncode == 2 and 'no classifier.pt: train it with `diffad train-classifier' in r.stderr and not (tmp_path / 'w').exists()

def test_baselines_from_the_command_line(tmp_path):
    "train-dae (healthy slices) -> detect --method dae; detect --method intensity needs no network; --channel picks the contrast."
    import json, nibabel as nib, numpy as np
    cohort, rdir = tmp_path / 'cohort', tmp_path / 'run'
    assert run_ok('synth', *EASY, '--out', cohort, '--kind', 'tumour', '--subjects', '5', '--shape', '32', '32', '24', '--seed', '4')
    r = run('detect', '--data', str(cohort), '--run', str(rdir), '--out', str(tmp_path / 'd0'), '--method', 'dae')
    assert r.returncode == 2 and 'no dae.pt: train it with `diffad train-dae' in r.stderr
    assert run_ok('train-dae', '--data', cohort, '--out', rdir, '--image-size', '32', '--steps', '2', '--batch', '4')
    ck = torch.load(rdir / 'dae.pt', weights_only=True)
    assert ck['config']['kind'] == 'dae' and ck['config']['noise'] == dict(res=8, std=0.2) and ck['step'] == 2
    assert run_ok('detect', '--data', cohort, '--run', rdir, '--out', tmp_path / 'dae', '--method', 'dae')
    assert json.loads((tmp_path / 'dae' / 'detect.json').read_text())['supervision'] == 'slice labels (trained on the healthy slices)'
    for ch in ('flair', 't2'):
        assert run_ok('detect', '--data', cohort, '--run', rdir, '--out', tmp_path / ch, '--method', 'intensity', '--channel', ch)
        info = json.loads((tmp_path / ch / 'detect.json').read_text())
        assert info['channel'] == ch and info['supervision'] == 'none'
    sid = info['subjects'][0]
    a, b = (nib.load(tmp_path / ch / sid / f'{sid}_anomaly.nii.gz').get_fdata() for ch in ('flair', 't2'))
    assert a.shape == b.shape and not np.allclose(a, b)   # two contrasts, two maps
    r = run('detect', '--data', str(cohort), '--run', str(rdir), '--out', str(tmp_path / 'x'), '--method', 'intensity', '--channel', 'pd')
    assert r.returncode == 2 and "--channel 'pd': the slices' contrasts are t1, t1ce, t2, flair" in r.stderr and not (tmp_path / 'x').exists()
    assert f"diffad detect: computing on {'cuda' if torch.cuda.is_available() else 'cpu'}" in r.stderr   # the device choice is printed
    r = run('evaluate', '--data', str(cohort), '--maps', str(tmp_path / 'flair'), '--out', str(tmp_path / 'm.json'))
    assert r.returncode == 0 and 'native resolution' in r.stdout and 'dice_star' in r.stdout, r.stderr
    res = json.loads((tmp_path / 'm.json').read_text())
    assert 0 <= res['dice_star'] <= 1 and len(res['ci']['dice_star']) == 2 and 'bootstrap' not in res

def test_detect_errors(tmp_path):
    cohort = tmp_path / 'cohort'
    assert run_ok('synth', *EASY, '--out', cohort, '--subjects', '3', '--shape', '32', '32', '24')
    r = run('detect', '--data', str(cohort), '--run', str(tmp_path / 'missing'), '--out', str(tmp_path / 'm'))
    assert r.returncode == 2 and 'no diffusion.pt: train it with `diffad train-diffusion' in r.stderr
    assert run_ok('train-diffusion', '--data', cohort, '--out', tmp_path / 'run', '--image-size', '32', '--steps', '1', '--batch', '4')
    r = run('detect', '--data', str(cohort), '--run', str(tmp_path / 'run'), '--out', str(tmp_path / 'm'), '--level', '1000')
    assert r.returncode == 2 and 'no classifier.pt' in r.stderr  # wolleb needs the classifier first
    r = run('detect', '--data', str(cohort), '--run', str(tmp_path / 'run'), '--out', str(tmp_path / 'm'), '--level', '1000', '--method', 'reconstruction')
    assert r.returncode == 2 and '--level must be in [0, 999]' in r.stderr
    r = run('detect', '--data', str(cohort), '--run', str(tmp_path / 'run'), '--out', str(tmp_path / 'm'), '--method', 'magic')
    assert r.returncode == 2 and 'unknown method' in r.stderr
    r = run('train-diffusion', '--data', str(cohort), '--out', str(tmp_path / 'run'), '--image-size', '64', '--steps', '2')
    assert r.returncode == 2 and 'image_size: 32 when the run was made, 64 now' in r.stderr

def run_ok(*args):
    r = run(*map(str, args))
    assert r.returncode == 0, r.stderr[-2000:]
    return True

def test_generic_folder_layout_from_the_command_line(tmp_path):
    "An MS-style cohort in no BraTS layout (two contrasts, a binary mask, other file names): --format folder --pattern."
    import json, nibabel as nib, numpy as np
    brats, cohort, rdir, maps = tmp_path / 'brats', tmp_path / 'ms', tmp_path / 'run', tmp_path / 'maps'
    assert run_ok('synth', *EASY, '--out', brats, '--kind', 'ms', '--subjects', '4', '--shape', '32', '32', '24', '--seed', '5')
    for sub in sorted(brats.iterdir()):   # rewrite as <id>/anat/{T1w,FLAIR}.nii.gz and <id>/lesion_mask.nii.gz
        (cohort / sub.name / 'anat').mkdir(parents=True)
        for m, name in (('t1', 'anat/T1w'), ('flair', 'anat/FLAIR')): (sub / f'{sub.name}_{m}.nii.gz').rename(cohort / sub.name / f'{name}.nii.gz')
        seg = nib.load(sub / f'{sub.name}_seg.nii.gz')
        nib.save(nib.Nifti1Image((np.asarray(seg.dataobj) > 0).astype(np.uint8), seg.affine), cohort / sub.name / 'lesion_mask.nii.gz')
    pats = ('--format', 'folder', '--pattern', 't1=anat/*T1w*', '--pattern', 'flair=anat/*FLAIR*', '--pattern', 'seg=*lesion_mask*')
    for kind in ('diffusion', 'classifier'):
        assert run_ok(f'train-{kind}', '--data', cohort, '--out', rdir, '--image-size', '32', '--steps', '2', '--batch', '4', *pats)
    assert torch.load(rdir / 'diffusion.pt', weights_only=True)['config']['in_ch'] == 2
    assert run_ok('detect', '--data', cohort, '--run', rdir, '--out', maps, '--level', '200', '--scale', '10', '--steps', '2', *pats)
    info = json.loads((maps / 'detect.json').read_text())
    assert info['format'] == 'folder' and info['patterns']['seg'] == '*lesion_mask*' and not (tmp_path / 'maps.partial').exists()
    for sid in info['subjects']:
        m, ref = nib.load(maps / sid / f'{sid}_anomaly.nii.gz'), nib.load(cohort / sid / 'anat' / 'FLAIR.nii.gz')
        assert m.shape == ref.shape and (m.affine == ref.affine).all()
    r = run('evaluate', '--data', str(cohort), '--maps', str(maps))   # the layout comes from detect.json
    assert r.returncode == 0 and 'wolleb' in r.stdout, r.stderr
    r = run('detect', '--data', str(cohort), '--run', str(rdir), '--out', str(tmp_path / 'm2'), '--format', 'folder')
    assert r.returncode == 2 and 'needs --pattern' in r.stderr and not (tmp_path / 'm2').exists()
    r = run('detect', '--data', str(cohort), '--run', str(rdir), '--out', str(tmp_path / 'm2'), '--pattern', 'flair')
    assert r.returncode == 2 and 'NAME=GLOB' in r.stderr

def test_refine_from_the_command_line(tmp_path):
    "Behrendt et al.: train-diffusion --healthy-only -> train-refiner (synthetic + 1 annotated subject) -> detect --method refine."
    import json, nibabel as nib
    cohort, rdir, maps = tmp_path / 'cohort', tmp_path / 'run', tmp_path / 'maps'
    assert run_ok('synth', *EASY, '--out', cohort, '--kind', 'tumour', '--subjects', '5', '--shape', '32', '32', '24', '--seed', '7')
    r = run('train-refiner', '--data', str(cohort), '--out', str(rdir), '--steps', '2')
    assert r.returncode == 2 and 'train-diffusion --healthy-only' in r.stderr
    assert run_ok('train-diffusion', '--data', cohort, '--out', rdir, '--image-size', '32', '--steps', '2', '--batch', '4', '--healthy-only')
    r = run('train-refiner', '--data', str(cohort), '--out', str(rdir), '--steps', '2', '--synthetic', 'no')
    assert r.returncode == 2 and 'needs --annotated' in r.stderr
    assert run_ok('train-refiner', '--data', cohort, '--run', rdir, '--steps', '2', '--batch', '4', '--annotated', '1', '--level', '200', '--recon-steps', '2')  # --run: --out's other name
    ck = torch.load(rdir / 'refiner.pt', weights_only=True)
    split = json.loads((rdir / 'split.json').read_text())
    assert ck['config']['recon'] == dict(level=200, steps=2) and ck['config']['data']['annotated'] == sorted(split['train'])[:1]
    assert run_ok('detect', '--data', cohort, '--run', rdir, '--out', maps, '--method', 'refine')
    info = json.loads((maps / 'detect.json').read_text())
    assert info['method'] == 'refine' and (info['level'], info['steps']) == (200, 2) and info['classifier'] == 'refiner'
    for sid in info['subjects']:
        m, ref = nib.load(maps / sid / f'{sid}_anomaly.nii.gz'), nib.load(cohort / sid / f'{sid}_flair.nii.gz')
        assert m.shape == ref.shape and (m.affine == ref.affine).all() and 0 <= m.get_fdata().min() and m.get_fdata().max() <= 1
    assert run_ok('detect', '--data', cohort, '--run', rdir, '--out', tmp_path / 'res', '--method', 'pseudo-healthy-residual')
    info = json.loads((tmp_path / 'res' / 'detect.json').read_text())   # the unsupervised detector, reconstructing as the refiner does
    assert (info['level'], info['steps'], info['supervision'], info['classifier']) == (200, 2, 'slice labels', None)
    # the control: the same pairs and budget, the slice alone; its maps need no reconstruction
    r = run('detect', '--data', str(cohort), '--run', str(rdir), '--out', str(tmp_path / 'c0'), '--method', 'refine-control')
    assert r.returncode == 2 and 'diffad train-refiner --control' in r.stderr
    assert run_ok('train-refiner', '--data', cohort, '--run', rdir, '--steps', '2', '--batch', '4', '--annotated', '1', '--level', '200', '--recon-steps', '2', '--control')
    cc = torch.load(rdir / 'refiner_control.pt', weights_only=True)['config']
    assert cc['model']['pseudo_healthy'] is False and cc['data'] == ck['config']['data'] and cc['recon'] == ck['config']['recon']
    assert run_ok('detect', '--data', cohort, '--run', rdir, '--out', tmp_path / 'ctl', '--method', 'refine-control')
    info = json.loads((tmp_path / 'ctl' / 'detect.json').read_text())
    assert info['method'] == 'refine-control' and info['classifier'] == 'refiner_control' and 'masks of 1 of ' in info['supervision']
    (rdir / 'refiner.pt').unlink()
    r = run('detect', '--data', str(cohort), '--run', str(rdir), '--out', str(tmp_path / 'm2'), '--method', 'refine')
    assert r.returncode == 2 and 'diffad train-refiner' in r.stderr and not (tmp_path / 'm2').exists()

def test_benchmark_without_healthy_training_slices_leaves_refine_out(tmp_path):
    "A lesion column through every slice: no healthy slice, so no healthy model and no refiner; the other methods run."
    import json, nibabel as nib, numpy as np
    cohort, out = tmp_path / 'cohort', tmp_path / 'results'
    import shutil
    assert run_ok('synth', *EASY, '--out', cohort, '--kind', 'ms', '--subjects', '10', '--shape', '32', '32', '24', '--seed', '5')
    small = tmp_path / 'small'   # 5 subjects split 4/0/1: no validation subject, a clear error before any training
    for f in sorted(cohort.iterdir())[:5]: shutil.copytree(f, small / f.name)
    r = run(*map(str, ('benchmark', '--data', small, '--out', tmp_path / 'r5', '--minutes', '1', '--image-size', '32')))
    assert r.returncode == 2 and 'split into 4 training, 0 validation and 1 test subjects' in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path / 'r5' / 'run' / 'diffusion.pt').exists()
    for f in cohort.glob('*/*_seg.nii.gz'):
        img = nib.load(f); seg = np.asarray(img.dataobj).copy()
        seg[14:18, 14:18, :] = 1
        nib.save(nib.Nifti1Image(seg, img.affine, img.header), f)
    r = run(*map(str, ('benchmark', '--data', cohort, '--out', out, '--minutes', '0.05', '--image-size', '32', '--steps', '2',
                       '--level', '200', '--levels', '200', '--batch', '8')))
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'no healthy training slice' in r.stderr and 'dae, pseudo-healthy-residual, refine and refine-control are left out' in r.stderr
    res = json.loads((out / 'results.json').read_text())
    methods = [row['method'] for row in res['rows']]
    assert 'wolleb' in methods and 'refine' not in methods and 'pseudo-healthy-residual' not in methods and 'dae' not in methods and 'refine-control' not in methods and len(methods) == 17
    assert res['settings']['refiner'] == 'left out: no healthy training slice'
    assert not (out / 'run' / 'diffusion_healthy.pt').exists() and not (out / 'run' / 'refiner.pt').exists()

def test_a_run_refuses_a_cohort_whose_subjects_changed(tmp_path):
    "A subject added to the cohort after a run: refused, naming it, before any work (it could land in another part of the split)."
    import shutil
    cohort, extra, rdir = tmp_path / 'cohort', tmp_path / 'extra', tmp_path / 'run'
    assert run_ok('synth', *EASY, '--out', cohort, '--kind', 'tumour', '--subjects', '5', '--shape', '32', '32', '24', '--seed', '3')
    args = ('train-diffusion', '--data', cohort, '--out', rdir, '--image-size', '32', '--steps', '1', '--batch', '4')
    assert run_ok(*args)
    assert run_ok('synth', *EASY, '--out', extra, '--kind', 'tumour', '--subjects', '1', '--shape', '32', '32', '24', '--seed', '4')
    shutil.move(extra / 'phantom-tumour-000', cohort / 'phantom-tumour-new')
    stamp = (rdir / 'diffusion.pt').stat().st_mtime_ns
    r = run(*map(str, args[:-4]), '--steps', '2', '--batch', '4')
    assert r.returncode == 2 and "subjects: 1 added ['phantom-tumour-new'], 0 removed" in r.stderr and 'Traceback' not in r.stderr
    assert (rdir / 'diffusion.pt').stat().st_mtime_ns == stamp and len(list((rdir / 'cache').iterdir())) == 1   # nothing trained, nothing cached

def test_a_killed_training_resumes_from_its_timed_checkpoint(tmp_path):
    "A minutes-budgeted training writes a checkpoint on a clock; killed after it, the run resumes from it, losses and all."
    import os, signal, time
    cohort, rdir = tmp_path / 'cohort', tmp_path / 'run'
    assert run_ok('synth', *EASY, '--out', cohort, '--kind', 'tumour', '--subjects', '5', '--shape', '32', '32', '24', '--seed', '6')
    p = subprocess.Popen(['diffad', 'train-diffusion', '--data', str(cohort), '--out', str(rdir), '--image-size', '32', '--batch', '4',
                          '--minutes', '10', '--checkpoint-every', '2'], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        t0 = time.time()
        while not (rdir / 'diffusion.pt').exists() and time.time() - t0 < 300 and p.poll() is None: time.sleep(0.2)
        assert (rdir / 'diffusion.pt').exists(), p.stderr.read().decode()[-2000:] if p.poll() is not None else 'no checkpoint within 300 s'
        time.sleep(0.5)
    finally: p.send_signal(signal.SIGKILL); p.wait()
    ck = torch.load(rdir / 'diffusion.pt', weights_only=True)
    assert 0 < ck['step'] < 200 and not [f for f in os.listdir(rdir) if f.endswith('.tmp.pt')]   # a time-based checkpoint, written whole
    assert run_ok('train-diffusion', '--data', cohort, '--out', rdir, '--image-size', '32', '--batch', '4', '--steps', ck['step'] + 2)
    ck2 = torch.load(rdir / 'diffusion.pt', weights_only=True)
    assert ck2['step'] == ck['step'] + 2 and torch.equal(ck2['losses'][:ck['step']], ck['losses'])
