"""The package as a user gets it: `pip wheel .`, installed into a fresh venv with only the runtime
requirements (no nbdev, no jupyter), then `import diffad` and the `diffad` command run from outside
the checkout, with the shipped checkpoints loaded from the installed wheel.

Slow-ish by nature (a venv, torch and the runtime requirements are installed: about 25 s from the pip
cache, then a small demo: about 55 s on 2 CPU cores), so every phase is timed and printed (`pytest -s`)."""
import configparser, json, os, resource, shutil, subprocess, sys, time, zipfile
from pathlib import Path
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
TORCH = 'torch==2.13.0'  # the local CPU wheel: never let pip pick an unpinned torch (CUDA downloads)
COMMANDS = ('demo', 'benchmark', 'synth', 'train-diffusion', 'train-classifier', 'detect', 'evaluate')
# What a checkout has that a build must not see (the .gitignore entries, plus git and the notebooks).
IGNORE = shutil.ignore_patterns('.git', '.venv', 'venv', '__pycache__', 'build', 'dist', '*.egg-info', '_docs',
                                '_proc', '_site', '.ipynb_checkpoints', '.pytest_cache', 'runs', '*.pt.tmp*', 'tmp', 'nbs')

def settings() -> configparser.SectionProxy:
    cfg = configparser.ConfigParser(delimiters=['='])
    cfg.read(REPO / 'settings.ini', encoding='utf-8')
    return cfg['DEFAULT']

def sh(args, timeout=600, check=True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw)
    if check: assert r.returncode == 0, f'{args} exited {r.returncode}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}'
    return r

def test_wheel_installs_and_runs_without_dev_tools(tmp_path):
    version, times = settings()['version'], {}
    cpu = lambda: (lambda u: u.ru_utime + u.ru_stime)(resource.getrusage(resource.RUSAGE_CHILDREN))
    t0, cpu0 = time.perf_counter(), cpu()
    def lap(name):  # wall and CPU seconds of each phase (CPU: of the subprocesses, unaffected by a busy machine)
        nonlocal t0, cpu0
        t, c = time.perf_counter(), cpu(); times[name] = (t - t0, c - cpu0); t0, cpu0 = t, c

    # 1. Build the wheel from a copy of the checkout, so that setuptools' in-tree build/ and *.egg-info
    #    (which can hold stale modules) play no part and the checkout is left untouched.
    src, dist = tmp_path / 'src', tmp_path / 'dist'
    shutil.copytree(REPO, src, ignore=IGNORE)
    sh([sys.executable, '-m', 'pip', 'wheel', src, '--no-deps', '-w', dist])
    wheels = list(dist.glob('diffad-*.whl'))
    assert [w.name for w in wheels] == [f'diffad-{version}-py3-none-any.whl']
    with zipfile.ZipFile(wheels[0]) as z:
        names = set(z.namelist())
        info = f'diffad-{version}.dist-info'
        entry_points = z.read(f'{info}/entry_points.txt').decode()
        metadata = z.read(f'{info}/METADATA').decode()
    assert {f'diffad/{p.name}' for p in (REPO / 'diffad').glob('*.py')} <= names
    assets = sorted(p.name for p in (REPO / 'diffad' / 'assets').glob('*.pt'))
    assert assets and {f'diffad/assets/{a}' for a in assets} <= names, 'the shipped checkpoints are missing'
    assert 'diffad = diffad.cli:main' in entry_points
    assert f'\nVersion: {version}\n' in metadata
    # Only the runtime requirements; the dev ones appear only under the `dev` extra.
    requires = [l.split(':', 1)[1].strip() for l in metadata.splitlines() if l.startswith('Requires-Dist:')]
    same = lambda rs: [str(Requirement(r)) for r in rs]   # the wheel's metadata orders each specifier set its own way
    assert same(r for r in requires if 'extra ==' not in r) == same(settings()['requirements'].split())
    lap('wheel build')

    # 2. A fresh venv (no system site packages): torch pinned first, then the wheel; pip resolves the other
    #    runtime requirements itself (newest fastprogress, which brings a new fastcore and python-fasthtml).
    venv = tmp_path / 'venv'
    sh([sys.executable, '-m', 'venv', venv])
    bindir = venv / 'bin'
    py = bindir / 'python'
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME', 'MPLBACKEND')}
    env.update(PATH=f'{bindir}{os.pathsep}{env.get("PATH", "")}', VIRTUAL_ENV=str(venv), DIFFAD_DEVICE='cpu')
    # --no-compile: byte-compiling all of torch at install time costs more than compiling what is imported.
    sh([py, '-m', 'pip', 'install', '-q', '--no-compile', TORCH], env=env)
    lap('venv + torch')
    sh([py, '-m', 'pip', 'install', '-q', '--no-compile', wheels[0]], env=env)
    sh([py, '-m', 'pip', 'check'], env=env)
    lap('wheel install')

    # Everything below runs from tmp_path, outside the checkout: only the installed wheel is importable.
    run = lambda *args, **kw: sh(args, env=env, cwd=tmp_path, **kw)
    # The dev tools are absent (IPython too: no runtime requirement pulls it in), so the imports below prove
    # that no diffad module needs them.
    missing = ('nbdev', 'jupyterlab', 'IPython', 'sklearn', 'scipy', 'captum')
    r = run(py, '-c', 'import importlib, sys\nfor m in sys.argv[1:]:\n'
            '    try: importlib.import_module(m); print(m, "imported")\n'
            '    except ModuleNotFoundError as e: print(m, "missing" if e.name == m else e)', *missing)
    assert r.stdout.split('\n')[:len(missing)] == [f'{m} missing' for m in missing], r.stdout
    # Every module imports without them; the assets resolve inside the venv's site-packages.
    r = run(py, '-c', 'import importlib, json, pkgutil, sysconfig, torch, diffad\n'
            'mods = [importlib.import_module(f"diffad.{m.name}").__name__ for m in pkgutil.iter_modules(diffad.__path__)]\n'
            'from diffad.runs import shipped_model\n'
            'print(json.dumps(dict(version=diffad.__version__, file=diffad.__file__, asset=str(shipped_model("diffusion")), '
            'site=sysconfig.get_path("purelib"), torch=torch.__version__, mods=mods)))')
    got = json.loads(r.stdout.strip().splitlines()[-1])
    site = Path(got['site']).resolve()
    assert got['version'] == version and got['torch'].split('+')[0] == TORCH.split('==')[1]
    assert {f'diffad.{p.stem}' for p in (REPO / 'diffad').glob('[!_]*.py')} <= set(got['mods'])
    assert site.is_relative_to(venv.resolve()), got
    assert Path(got['file']).resolve().is_relative_to(site), f'diffad imported from {got["file"]}, not the venv'
    assert Path(got['asset']).resolve().is_relative_to(site) and Path(got['asset']).is_file(), got
    assert sorted(p.name for p in (site / 'diffad' / 'assets').glob('*.pt')) == assets
    assert shutil.which('diffad', path=env['PATH']) == str(bindir / 'diffad')

    r = run('diffad', '--version')
    assert r.stdout.strip() == f'diffad {version}'
    r = run('diffad', '--help')
    for cmd in COMMANDS: assert cmd in r.stdout, f'{cmd!r} missing from diffad --help:\n{r.stdout}'
    lap('import, --version, --help')

    # 3. The demo with the shipped checkpoints, small (Wolleb's method and the baselines: the whole demo is tests/test_cli.py's).
    out = tmp_path / 'demo'
    r = run('diffad', 'demo', '--out', out, '--subjects', 2, '--steps', 2, '--methods', 'wolleb')
    assert '| cohort | method |' in r.stdout, r.stdout[-2000:]
    res = json.loads((out / 'results.json').read_text())
    assert [row['method'] for row in res['rows']] == ['intensity', 'intensity (percentile norm)', 'dae', 'wolleb'] * 2 and res['versions']['diffad'] == version
    assert '| cohort | method |' in (out / 'results.md').read_text()
    for kind in ('tumour', 'ms'): assert (out / f'figure_{kind}.png').stat().st_size > 0
    lap('demo')
    print('\n' + '\n'.join(f'{k}: {w:.1f} s wall, {c:.1f} s CPU' for k, (w, c) in times.items())
          + f'\ntotal: {sum(w for w, _ in times.values()):.1f} s wall')
