"""Every notebook run top to bottom in quick mode, slow cells included, with nbclient: what *Run All* does in
JupyterLab (`DIFFAD_QUICK=1`; see `00_core`'s `quick_mode`). Not part of `pytest tests`: run it with
`pytest -m notebooks tests`."""
import time
from pathlib import Path
import nbformat, pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))

@pytest.mark.notebooks
@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom(path, monkeypatch):
    monkeypatch.setenv('DIFFAD_QUICK', '1'); monkeypatch.setenv('MPLBACKEND', 'Agg'); monkeypatch.delenv('IN_TEST', raising=False)
    nb, t0 = nbformat.read(path, as_version=4), time.time()
    NotebookClient(nb, timeout=900, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}}).execute()  # raises on the first error
    print(f'{path.stem}: {time.time() - t0:.0f} s')
