"""The maintainers' scripts (`scripts/`): what can be checked without training."""
import importlib.util, subprocess, sys
from pathlib import Path
import pytest

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
