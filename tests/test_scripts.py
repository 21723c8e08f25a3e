"""The maintainers' scripts (`scripts/`): what can be checked without training."""
import importlib.util, subprocess, sys
from pathlib import Path
import pytest, torch
from torch import nn
from diffad.training import Trainer, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]

def train_phantom():
    "scripts/train_phantom.py as a module (its `__main__` block does not run)."
    spec = importlib.util.spec_from_file_location('train_phantom', ROOT / 'scripts' / 'train_phantom.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return m

def test_only_trains_the_named_stages():
    tp = train_phantom()
    steps = tp.only_stages(dict(tp.STEPS, clean_constrained_eg=500), ['clean_constrained_eg'])
    assert steps['clean_constrained_eg'] == 500 and all(v == 0 for k, v in steps.items() if k != 'clean_constrained_eg')
    assert tp.only_stages(tp.STEPS, None) == tp.STEPS                    # no --only: every stage as given
    two = tp.only_stages(tp.STEPS, ['diffusion', 'dae'])
    assert two.keys() == tp.STEPS.keys() and {k: v for k, v in two.items() if v} == {k: tp.STEPS[k] for k in ('diffusion', 'dae')}   # those two at their defaults, the rest 0
    with pytest.raises(ValueError, match='unknown stage nope'): tp.only_stages(tp.STEPS, ['nope'])

def test_only_names_an_unknown_stage():
    r = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'train_phantom.py'), '--only', 'clean_constrained_eg', 'nope'], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and 'unknown stage nope' in r.stderr and 'clean_constrained_ig' in r.stderr   # named, with the stages there are; nothing trained

def test_export_records_the_training_seconds_of_every_run(tmp_path):
    tp, ck, out = train_phantom(), tmp_path / 'run.pt', tmp_path / 'asset.pt'
    batches = [(torch.randn(8, 2), torch.randn(8, 1)) for _ in range(2)]
    loss = lambda m, b: ((m(b[0]) - b[1]) ** 2).mean()
    Trainer(nn.Linear(2, 1), loss, batches, ema_decay=0.9, ckpt_path=ck, config={'n': 1}).fit(steps=3, progress=False)   # a run, stopped ...
    first = load_checkpoint(ck)['seconds']
    t = Trainer(nn.Linear(2, 1), loss, batches, ema_decay=0.9, ckpt_path=ck).resume(ck).fit(steps=6, progress=False)   # ... and resumed
    assert 0 < first < t.seconds
    tp.export(ck, out, dict(batch_size=8, device='cpu'), seconds=1e6)   # 1e6: this run's seconds, used only without the sum
    b = load_checkpoint(out)['config']['budget']
    assert b == dict(batch_size=8, device='cpu', steps=6, seconds=round(t.seconds))
    old = load_checkpoint(ck); del old['seconds']; save_checkpoint(ck, old)   # a checkpoint from before the sum: this run's seconds
    tp.export(ck, out, dict(batch_size=8, device='cpu'), seconds=12.3)
    assert load_checkpoint(out)['config']['budget']['seconds'] == 12
    tp.export(ck, out, dict(batch_size=8, device='cpu'), seconds=12.3, extra=dict(guide_search=dict(lam=1.)))   # how it was chosen joins its configuration
    cfg = load_checkpoint(out)['config']
    assert cfg['guide_search'] == dict(lam=1.) and cfg['n'] == 1 and cfg['budget']['steps'] == 6
