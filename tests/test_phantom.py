"""The realistic phantom stays calibrated: the FLAIR threshold (each subject divided by its brain median, one threshold
for all brain voxels of all subjects, native resolution) on the 20-subject cohorts `diffad synth` writes with its
defaults lands in the bands of the published real-data figures (Meissen et al. 2021: BraTS 0.74; MS datasets 0.43-0.61)."""
import inspect
import pytest
from diffad.cli import synth
from diffad.metrics import volume_baseline
from diffad.phantom import make_cohort

BANDS = dict(tumour=(0.55, 0.80), ms=(0.30, 0.60))

@pytest.mark.parametrize('kind', ['tumour', 'ms'])
def test_flair_threshold_lands_in_the_real_data_band(kind):
    d = {k: p.default for k, p in inspect.signature(synth).parameters.items() if p.default is not inspect.Parameter.empty}
    cohort = make_cohort(20, kind, d['seed'], d['shape'], d['healthy_fraction'], difficulty=d['difficulty'], site=d['site'])
    lo, hi = BANDS[kind]
    dice = volume_baseline(cohort)
    assert lo <= dice <= hi, f'{kind}: FLAIR threshold Dice* {dice:.3f} outside the band [{lo}, {hi}]'
