"""The static docs site (tools/build_docs.py: nbdev's docs processing -> nbconvert -> pandoc --mathml),
built from the notebooks and looked at in headless Chromium."""
import html, json, re, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np
import pytest
from matplotlib.image import imread
from nbdev.doclinks import _nbpath2html

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path('/usr/bin/chromium')
# notebook -> names whose show_doc API documentation must be on its page; has equations?
PAGES = {'index': ([], True), 'glossary': ([], True), '05_sampling': (['ddim_encode', 'ddim_sample'], True),
         '07_wolleb': (['wolleb_detect'], True), '08_attribution': (['integrated_gradients', 'attribution_constraint'], True),
         '09_combined': (['masked_detect', 'fused_detect'], True), '10b_runs': (['train_run', 'Run'], False), '11_benchmark': (['detector', 'benchmark_cohort'], True), '12_cli': (['main'], False)}

def page_name(nb:str) -> str: return _nbpath2html(Path(nb + '.ipynb')).name

def notebooks() -> list:
    return sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('site')
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'build_docs.py'), '--out', str(out)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    errors = '\n'.join(l for l in r.stderr.splitlines() if l.startswith(('ERROR', '  caused', '  |', '  (nbdev')))  # not the warnings
    assert r.returncode == 0, f'docs build failed:\n{errors or r.stderr[-3000:]}'
    return out

def chromium(*args, profile:Path) -> subprocess.CompletedProcess:
    if not CHROMIUM.exists():
        pytest.fail(f'{CHROMIUM} is missing: the docs test needs headless Chromium (apt-get install -y chromium)')
    return subprocess.run([str(CHROMIUM), '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                           '--disable-component-update', '--disable-sync', '--no-first-run', f'--user-data-dir={profile}',
                           '--window-size=1200,900', *args], capture_output=True, text=True, timeout=90)

@pytest.fixture(scope='module')
def rendered(site, tmp_path_factory):
    "For each page in PAGES: (screenshot path, DOM after Chromium rendered it)"
    if not CHROMIUM.exists(): pytest.fail(f'{CHROMIUM} is missing: apt-get install -y chromium')
    tmp = tmp_path_factory.mktemp('chromium')
    def _one(nb):
        url = (site / page_name(nb)).as_uri()
        shot = tmp / f'{nb}.png'
        r = chromium(f'--screenshot={shot}', url, profile=tmp / f'profile-{nb}-shot')
        assert r.returncode == 0, r.stderr[-2000:]
        r = chromium('--dump-dom', url, profile=tmp / f'profile-{nb}-dom')
        assert r.returncode == 0 and '</html>' in r.stdout, r.stderr[-2000:]
        return nb, (shot, r.stdout)
    with ThreadPoolExecutor(2) as ex: return dict(ex.map(_one, PAGES))

def visible_text(dom:str) -> str:
    "Text a reader sees outside math and code"
    dom = re.sub(r'<(math|pre|code|script|style)\b.*?</\1>', ' ', dom, flags=re.S)
    return html.unescape(re.sub(r'<[^>]+>', ' ', dom))

def nav_links(dom:str) -> list:
    nav = re.search(r'<nav id="sidebar".*?</nav>', dom, flags=re.S)
    assert nav, 'no navigation sidebar'
    return re.findall(r'<li><a href="([^"]+)"', nav[0])

def test_chromium_is_installed():
    assert CHROMIUM.exists(), f'{CHROMIUM} is missing: the docs test needs headless Chromium (apt-get install -y chromium)'

def test_one_page_per_notebook(site):
    expected = {page_name(p.stem) for p in notebooks()}
    assert {p.name for p in site.glob('*.html')} == expected

@pytest.mark.parametrize('nb', PAGES)
def test_screenshot_not_blank(rendered, nb):
    shot, _ = rendered[nb]
    assert shot.exists() and shot.stat().st_size > 10_000, 'no screenshot, or a tiny one'
    img = imread(shot)[..., :3]
    background = np.median(img.reshape(-1, 3), 0)
    assert img.std() > 0.05 and (np.abs(img - background).sum(-1) > 0.1).mean() > 0.03, 'screenshot is blank'

@pytest.mark.parametrize('nb', PAGES)
def test_api_docs(rendered, nb):
    _, dom = rendered[nb]
    text = visible_text(re.sub(r'<(math|script|style)\b.*?</\1>', ' ', dom, flags=re.S))  # keep code: signatures
    code = html.unescape(re.sub(r'<[^>]+>', '', ' '.join(re.findall(r'<pre\b.*?</pre>', dom, flags=re.S))))
    for name in PAGES[nb][0]:
        assert re.search(rf'<h3[^>]*>\s*{name}\s*</h3>', dom), f'no show_doc heading for {name}'
        assert re.search(rf'\b{name}\s*\(', code), f'no signature of {name}'
    assert text.strip()

@pytest.mark.parametrize('nb', PAGES)
def test_math_rendered_as_mathml(rendered, nb):
    _, dom = rendered[nb]
    if PAGES[nb][1]: assert dom.count('<math') >= 1, 'no MathML on a page with equations'
    assert 'mathjax' not in dom.lower()
    leftovers = re.findall(r'.{0,30}(?:\\[A-Za-z]{2,}|\$\$).{0,30}', visible_text(dom))
    assert not leftovers, f'raw TeX in the page: {leftovers[:5]}'

@pytest.mark.parametrize('nb', PAGES)
def test_no_error_output(rendered, nb):
    _, dom = rendered[nb]
    for bad in ('Traceback', 'most recent call last', 'Error in notebook'):
        assert bad not in dom, f'{bad!r} on the page'

@pytest.mark.parametrize('nb', PAGES)
def test_navigation(site, rendered, nb):
    _, dom = rendered[nb]
    links = nav_links(dom)
    assert links == [page_name(p.stem) for p in [ROOT / 'nbs' / 'index.ipynb'] + [p for p in notebooks() if p.stem != 'index']]
    assert all((site / l).is_file() for l in links)
    for src in re.findall(r'<img[^>]*\bsrc="([^"]+)"', dom):
        assert src.startswith('data:') or (site / src).is_file(), f'missing image {src}'

def test_every_page_links_every_other(site):
    pages = sorted(p.name for p in site.glob('*.html'))
    for p in pages:
        assert sorted(nav_links((site / p).read_text(encoding='utf-8'))) == pages, p
        for href in re.findall(r'href="([\w.-]+\.html)(?:#[^"]*)?"', (site / p).read_text(encoding='utf-8')):
            assert (site / href).is_file(), f'{p} links to missing {href}'

def committed_figures(nb:str) -> int:
    "Image outputs stored in the notebook's shown cells (not `#| hide`, not `#| output: false`)"
    cells = json.loads((ROOT / 'nbs' / f'{nb}.ipynb').read_text(encoding='utf-8'))['cells']
    shown = lambda c: not re.search(r'^#\|\s*(hide\b|output:\s*false)', ''.join(c['source']), flags=re.M)
    return sum('image/png' in o.get('data', {}) for c in cells if c['cell_type'] == 'code' and shown(c) for o in c.get('outputs', []))

@pytest.mark.parametrize('nb', sorted(p.stem for p in notebooks()))
def test_committed_figures_shown(site, nb):
    "Every figure stored in a notebook reaches its page"
    n, dom = committed_figures(nb), (site / page_name(nb)).read_text(encoding='utf-8')
    assert len(re.findall(r'<img\b', dom)) >= n, f'{nb}: {n} figures stored, fewer on the page'

@pytest.mark.parametrize('nb', sorted(p.stem for p in notebooks()))
def test_solutions_folded(site, nb):
    "Cells flagged `#| code-fold: true` (the exercises' solutions) are folded on the page"
    cells = json.loads((ROOT / 'nbs' / f'{nb}.ipynb').read_text(encoding='utf-8'))['cells']
    n = sum(bool(re.match(r'#\|\s*code-fold:\s*true', ''.join(c['source']))) for c in cells if c['cell_type'] == 'code')
    dom = (site / page_name(nb)).read_text(encoding='utf-8')
    assert len(re.findall(r'<details>\s*<summary>\s*Code\s*</summary>', dom)) == n, nb
