"""The `diffad` command as a user runs it: installed entry point, subprocesses, files on disk."""
import subprocess, sys
from pathlib import Path
import torch
import diffad

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

def test_demo_end_to_end(tmp_path):
    out = tmp_path / 'demo'
    r = run('demo', '--out', str(out), '--minutes', '0.5', '--steps', '40', '--size', '16', env={'DIFFAD_DEVICE': 'cpu', **__import__('os').environ})
    assert r.returncode == 0, r.stderr
    assert '| images |' in r.stdout and 'untrained UNet' in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ['model.pt', 'results.md', 'samples.png']
    ck = torch.load(out / 'model.pt', weights_only=True)
    assert ck['step'] == 40 and set(ck['config']) >= {'in_ch', 'widths'}
    from diffad.unet import UNet
    UNet(**ck['config']).load_state_dict(ck['model'])  # the checkpoint rebuilds the model

def test_demo_rejects_bad_size(tmp_path):
    r = run('demo', '--out', str(tmp_path / 'x'), '--size', '30', '--steps', '2')
    assert r.returncode == 2 and "not divisible by 4" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()  # nothing written

def test_synth_writes_a_readable_brats_cohort(tmp_path):
    out = tmp_path / 'cohort'
    r = run('synth', '--out', str(out), '--kind', 'tumour', '--subjects', '3', '--seed', '4', '--shape', '32', '32', '24')
    assert r.returncode == 0, r.stderr
    from diffad.data import find_subjects, load_subject, detect_layout
    from diffad.phantom import make_cohort
    assert detect_layout(out) == 'brats2020'
    folders = find_subjects(out)
    assert [f.name for f in folders] == [f'phantom-tumour-{i:03d}' for i in range(3)]
    for f, ref in zip(folders, make_cohort(3, 'tumour', 4, (32, 32, 24))):
        s = load_subject(f)
        assert (s.images == ref.images).all() and (s.seg == ref.seg).all() and (s.affine == ref.affine).all()

def test_synth_bad_arguments(tmp_path):
    r = run('synth', '--out', str(tmp_path / 'c'), '--kind', 'glioma')
    assert r.returncode == 2 and 'invalid choice' in r.stderr
    r = run('synth', '--out', str(tmp_path / 'c'), '--subjects', '0')
    assert r.returncode == 2 and '--subjects must be at least 1' in r.stderr and not (tmp_path / 'c').exists()

def test_wolleb_round_trip_from_the_command_line(tmp_path):
    "synth -> train-diffusion -> train-classifier -> detect -> evaluate; maps live in each subject's space."
    import json, nibabel as nib
    cohort, rdir, maps = tmp_path / 'cohort', tmp_path / 'run', tmp_path / 'maps'
    assert run_ok('synth', '--out', cohort, '--kind', 'ms', '--subjects', '5', '--shape', '32', '32', '24')
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

def test_detect_errors(tmp_path):
    cohort = tmp_path / 'cohort'
    assert run_ok('synth', '--out', cohort, '--subjects', '3', '--shape', '32', '32', '24')
    r = run('detect', '--data', str(cohort), '--run', str(tmp_path / 'missing'), '--out', str(tmp_path / 'm'))
    assert r.returncode == 2 and 'no diffusion model' in r.stderr
    assert run_ok('train-diffusion', '--data', cohort, '--out', tmp_path / 'run', '--image-size', '32', '--steps', '1', '--batch', '4')
    r = run('detect', '--data', str(cohort), '--run', str(tmp_path / 'run'), '--out', str(tmp_path / 'm'), '--level', '1000')
    assert r.returncode == 2 and 'no classifier' in r.stderr  # wolleb needs the classifier first
    r = run('detect', '--data', str(cohort), '--run', str(tmp_path / 'run'), '--out', str(tmp_path / 'm'), '--level', '1000', '--method', 'reconstruction')
    assert r.returncode == 2 and '--level must be in [0, 999]' in r.stderr
    r = run('detect', '--data', str(cohort), '--run', str(tmp_path / 'run'), '--out', str(tmp_path / 'm'), '--method', 'magic')
    assert r.returncode == 2 and 'unknown method' in r.stderr
    r = run('train-diffusion', '--data', str(cohort), '--out', str(tmp_path / 'run'), '--image-size', '64', '--steps', '2')
    assert r.returncode == 2 and 'another configuration' in r.stderr

def run_ok(*args):
    r = run(*map(str, args))
    assert r.returncode == 0, r.stderr[-2000:]
    return True
