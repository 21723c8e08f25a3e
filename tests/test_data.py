"Bad-input tests for `diffad.data`: every problem raises a `DataError` naming the file, and leaves no partial cache."
import gzip, os, shutil
from pathlib import Path
import numpy as np
import nibabel as nib
import pytest
from diffad.phantom import Subject
from diffad.data import (DataError, SliceSettings, SliceDataset, build_slice_cache, cache_nifti_cohort, detect_layout,
                         find_subjects, load_subject, save_nifti, subject_files, write_subject)

SHAPE = (12, 10, 8)

def tiny(id:str, seed:int=0) -> Subject:
    "A small random subject: a box-shaped brain with positive intensities and a BraTS-labelled lesion."
    rng = np.random.default_rng(seed)
    brain = np.zeros(SHAPE, bool); brain[2:10, 2:8, 1:7] = True
    images = (rng.uniform(1, 100, (4, *SHAPE)) * brain).astype(np.float32)
    seg = np.zeros(SHAPE, np.uint8); seg[4:7, 3:6, 3:5] = 2; seg[5, 4, 3:5] = 4; seg[5, 5, 4] = 1
    affine = np.diag([1.5, 1.5, 2., 1.]); affine[:3, 3] = (-9, -7.5, -8)
    return Subject(id=id, images=images, seg=seg, brain=brain, affine=affine)

@pytest.fixture
def cohort(tmp_path):
    "A brats2020 cohort of two good subjects; returns (root, the second subject's folder)."
    root = tmp_path / 'cohort'
    for i in range(2): write_subject(tiny(f'sub{i}', i), root, 'brats2020')
    return root, root / 'sub1'

def f(folder:Path, m:str) -> Path: return folder / f'{folder.name}_{m}.nii.gz'
def aff(folder:Path) -> np.ndarray: return nib.load(f(folder, 't1')).affine

def assert_no_cache(cache:Path):
    assert not cache.exists() or not any(cache.rglob('*')), f"partial cache left: {list(cache.rglob('*'))}"

def check(root:Path, folder:Path, name:str, *words:str, **kw):
    "load_subject and a cache build both raise a DataError naming `name` and `words`; no cache is left."
    with pytest.raises(DataError) as e: load_subject(folder, **kw)
    msg = str(e.value)
    for w in (name, *words): assert w in msg, f"{w!r} not in {msg!r}"
    cache = root.parent / 'cache'
    with pytest.raises(DataError) as e: cache_nifti_cohort(root, cache, SliceSettings(size=8, min_brain_frac=0), progress=False, **kw)
    assert name in str(e.value)
    assert_no_cache(cache)

# --- the good case -------------------------------------------------------------------------------------

def test_good_cohort_builds_cache(cohort, tmp_path):
    root, _ = cohort
    p = cache_nifti_cohort(root, tmp_path / 'cache', SliceSettings(size=8, min_brain_frac=0), progress=False)
    ds = SliceDataset(p)
    assert len(ds) == 16 and ds.ids == ['sub0', 'sub1']
    assert ds[0]['image'].shape == (4, 8, 8)
    assert sorted(os.listdir(tmp_path / 'cache')) == [p.name]  # no temporary folder left

# --- missing, unreadable and malformed files -------------------------------------------------------------

def test_missing_modality(cohort):
    root, d = cohort
    f(d, 'flair').unlink()
    check(root, d, 'sub1_flair.nii.gz', 'missing')

def test_missing_seg(cohort):
    root, d = cohort
    f(d, 'seg').unlink()
    check(root, d, 'sub1_seg.nii.gz', 'missing')
    assert load_subject(d, need_seg=False).seg is None

def test_truncated_gz(cohort):
    root, d = cohort
    data = f(d, 't2').read_bytes(); f(d, 't2').write_bytes(data[:len(data) // 2])
    check(root, d, 'sub1_t2.nii.gz', 'cannot be read')

def test_corrupt_file(cohort):
    root, d = cohort
    f(d, 't1ce').write_bytes(gzip.compress(b'this is not a NIfTI file' * 20))
    check(root, d, 'sub1_t1ce.nii.gz', 'cannot be read')

def test_truncated_uncompressed(cohort):
    root, d = cohort
    p = d / 'sub1_t2.nii'
    save_nifti(nib.load(f(d, 't2')).get_fdata(dtype=np.float32), aff(d), p); f(d, 't2').unlink()
    p.write_bytes(p.read_bytes()[:600])
    check(root, d, 'sub1_t2.nii', 'cannot be read')

def test_2d_image(cohort):
    root, d = cohort
    save_nifti(np.ones(SHAPE[:2], np.float32), aff(d), f(d, 't1'))
    check(root, d, 'sub1_t1.nii.gz', '2-D')

def test_4d_image(cohort):
    root, d = cohort
    save_nifti(np.ones((*SHAPE, 3), np.float32), aff(d), f(d, 't2'))
    check(root, d, 'sub1_t2.nii.gz', '4-D', '(12, 10, 8, 3)')

def test_4d_singleton_is_squeezed(cohort):
    _, d = cohort
    a = nib.load(f(d, 't2')).get_fdata(dtype=np.float32)
    save_nifti(a[..., None], aff(d), f(d, 't2'))
    np.testing.assert_array_equal(load_subject(d).images[2], a)

def test_modality_shapes_differ(cohort):
    root, d = cohort
    save_nifti(np.ones((12, 10, 9), np.float32), aff(d), f(d, 'flair'))
    check(root, d, 'sub1_flair.nii.gz', 'sub1_t1.nii.gz', '(12, 10, 9)', '(12, 10, 8)')

def test_seg_shape_differs(cohort):
    root, d = cohort
    save_nifti(np.zeros((12, 11, 8), np.uint8), aff(d), f(d, 'seg'))
    check(root, d, 'sub1_seg.nii.gz', 'sub1_t1.nii.gz', '(12, 11, 8)', '(12, 10, 8)')

@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_nan_inf(cohort, bad):
    root, d = cohort
    a = nib.load(f(d, 't1')).get_fdata(dtype=np.float32); a[3, 3, 3] = bad
    save_nifti(a, aff(d), f(d, 't1'))
    check(root, d, 'sub1_t1.nii.gz', 'NaN/Inf')

def test_all_zero(cohort):
    root, d = cohort
    save_nifti(np.zeros(SHAPE, np.float32), aff(d), f(d, 't1ce'))
    check(root, d, 'sub1_t1ce.nii.gz', 'all-zero')

def test_affines_disagree(cohort):
    root, d = cohort
    a2 = aff(d).copy(); a2[0, 3] += 0.5
    save_nifti(nib.load(f(d, 't2')).get_fdata(dtype=np.float32), a2, f(d, 't2'))
    check(root, d, 'sub1_t2.nii.gz', 'affine differs', 'sub1_t1.nii.gz')
    load_subject(d, affine_tol=1.0)  # within a looser tolerance

def test_duplicate_files(cohort):
    root, d = cohort
    shutil.copy(f(d, 'flair'), d / 'sub1_flair.nii')
    check(root, d, 'sub1_flair.nii', 'files match')

# --- labels -------------------------------------------------------------------------------------------------

def test_seg_label_brats2020(cohort):
    root, d = cohort
    seg = np.zeros(SHAPE, np.uint8); seg[5, 5, 4] = 3  # a BraTS 2023 label in a 2020 cohort
    save_nifti(seg, aff(d), f(d, 'seg'))
    check(root, d, 'sub1_seg.nii.gz', 'unexpected labels [3]')

def test_seg_label_brats2023(tmp_path):
    root = tmp_path / 'c23'
    for i in range(2): write_subject(tiny(f'sub{i}', i), root, 'brats2023')
    d = root / 'sub1'; p = d / 'sub1-seg.nii.gz'
    seg = np.zeros(SHAPE, np.uint8); seg[5, 5, 4] = 4  # a BraTS 2020 label in a 2023 cohort
    save_nifti(seg, nib.load(p).affine, p)
    check(root, d, 'sub1-seg.nii.gz', 'unexpected labels [4]')

def test_seg_non_integer(cohort):
    root, d = cohort
    seg = np.zeros(SHAPE, np.float32); seg[5, 5, 4] = 0.5
    save_nifti(seg, aff(d), f(d, 'seg'))
    check(root, d, 'sub1_seg.nii.gz', 'non-integer')

def generic(tmp_path, mask_value:int) -> tuple[Path, Path]:
    "An MS-like cohort: FLAIR and lesion mask only, in a sub-folder."
    root = tmp_path / 'ms'
    for i in range(2):
        s = tiny(f'pat{i}', i)
        save_nifti(s.images[3], s.affine, root / s.id / 'anat' / f'{s.id}_FLAIR.nii.gz')
        save_nifti((s.seg > 0).astype(np.uint8) * (mask_value if i == 1 else 1), s.affine, root / s.id / 'anat' / f'{s.id}_lesionmask.nii.gz')
    return root, root / 'pat1'

PATS = {'flair': '*flair*.nii*', 'seg': '*mask*.nii*'}

def test_generic_labels(tmp_path):
    root, d = generic(tmp_path, 2)
    check(root, d, 'pat1_lesionmask.nii.gz', 'unexpected labels [2]', patterns=PATS)
    s = load_subject(d, patterns=PATS, labels=(0, 2))  # configured: fine
    assert s.modalities == ('flair',) and set(np.unique(s.seg)) == {0, 2}

def test_generic_needs_patterns_and_matches(tmp_path):
    root, d = generic(tmp_path, 1)
    assert detect_layout(root) == 'folder'
    with pytest.raises(DataError, match='needs patterns'): load_subject(d)
    with pytest.raises(DataError) as e: load_subject(d, patterns={**PATS, 't1': '*T1w*.nii*'})
    assert "*T1w*.nii*" in str(e.value) and 'missing t1' in str(e.value)
    with pytest.raises(DataError) as e: load_subject(d, patterns={'flair': '*.nii*'})
    assert '2 files match' in str(e.value) and 'pat1_FLAIR.nii.gz' in str(e.value)

# --- folders ----------------------------------------------------------------------------------------------

def test_empty_folders(tmp_path):
    (tmp_path / 'root').mkdir()
    for fn in (detect_layout, find_subjects):
        with pytest.raises(DataError) as e: fn(tmp_path / 'root')
        assert 'root' in str(e.value) and 'empty folder' in str(e.value)
    with pytest.raises(DataError, match='empty folder'): load_subject(tmp_path / 'root', layout='brats2020')
    (tmp_path / 'root' / 'sub0').mkdir(); (tmp_path / 'root' / 'notes.txt').write_text('x')
    with pytest.raises(DataError, match='no NIfTI files'): detect_layout(tmp_path / 'root')
    with pytest.raises(DataError, match='empty folder'): subject_files(tmp_path / 'root' / 'sub0', 'brats2020')
    with pytest.raises(DataError, match='no such folder'): detect_layout(tmp_path / 'nope')
    assert_no_cache(tmp_path / 'cache')
    with pytest.raises(DataError, match='empty folder'): cache_nifti_cohort(tmp_path / 'root' / 'sub0', tmp_path / 'cache', SliceSettings())
    assert_no_cache(tmp_path / 'cache')

def test_empty_subject_folder_in_cohort(cohort):
    root, d = cohort
    for p in d.iterdir(): p.unlink()
    assert [p.name for p in find_subjects(root)] == ['sub0']  # a folder without NIfTI files is no subject
    with pytest.raises(DataError, match='empty folder'): load_subject(d, layout='brats2020')

# --- atomic writes ----------------------------------------------------------------------------------------

def test_interrupted_nifti_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_save(img, path):
        Path(path).write_bytes(b'half a file'); raise KeyboardInterrupt
    monkeypatch.setattr(nib, 'save', broken_save)
    with pytest.raises(KeyboardInterrupt): save_nifti(np.ones(SHAPE, np.float32), np.eye(4), tmp_path / 'a' / 'x.nii.gz')
    assert os.listdir(tmp_path / 'a') == []

def test_failure_during_cache_build_leaves_nothing(tmp_path):
    def subjects():
        yield tiny('s0', 0)
        raise RuntimeError('disk on fire')
    with pytest.raises(RuntimeError, match='disk on fire'):
        build_slice_cache(subjects(), tmp_path / 'cache', SliceSettings(size=8), dict(test=1), progress=False)
    assert_no_cache(tmp_path / 'cache')
    with pytest.raises(DataError, match='no slices'):  # nothing kept: no cache either
        build_slice_cache([tiny('s0')], tmp_path / 'cache', SliceSettings(size=8, z_range=(100, 200)), dict(test=2), progress=False)
    assert_no_cache(tmp_path / 'cache')
    with pytest.raises(DataError, match='s0: duplicate subject id'):
        build_slice_cache([tiny('s0'), tiny('s0', 1)], tmp_path / 'cache', SliceSettings(size=8), dict(test=3), progress=False)
    assert_no_cache(tmp_path / 'cache')
