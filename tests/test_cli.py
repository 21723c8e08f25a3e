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
