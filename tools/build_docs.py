"""Build the static documentation site from nbs/ without Quarto.

Usage: python tools/build_docs.py --out DIR [--workers N]

Each notebook goes through nbdev 2's own docs processing (`nbdev.processors.FilterDefaults`: front
matter, hide directives, `show_doc` for exported functions, links, ...; the same processors that
`nbdev_proc_nbs` runs before Quarto), then `jupyter nbconvert` turns it into markdown and pandoc (the
binary shipped in the PyPI package pypandoc-binary) turns that into HTML with `--mathml`. Only the cells
nbdev's docs step executes are run (imports, exported cells, `show_doc`), and cells flagged with one of
settings.ini's `tst_flags` (`#| slow`) never run, even when they hold an import (nbdev would run those);
every other cell shows the outputs stored in the notebook. Nothing is written outside DIR.

`nbdev_docs` with `nbs/_quarto.yml` stays the real build where Quarto is installed; this script never calls
an nbdev command that runs or installs Quarto. It exits 1, after writing every page it could, when
nbdev's processing fails on a notebook (as `nbdev_docs` would) or a page would show an error output.
"""
import argparse, html, os, re, shutil, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Pandoc template for one page: the sidebar comes in through --include-before-body.
TEMPLATE = '''<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$pagetitle$ – $site$</title>
<style>
$highlighting-css$
</style>
<link rel="stylesheet" href="site.css">
<link rel="stylesheet" href="styles.css">
</head>
<body>
$for(include-before)$
$include-before$
$endfor$
<main id="content">
<header id="title-block-header">
<h1 class="title">$title$</h1>
$if(description)$
<p class="description">$description$</p>
$endif$
</header>
$body$
</main>
</body>
</html>
'''

SITE_CSS = '''
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; color: #212529; }
#sidebar { position: fixed; top: 0; left: 0; bottom: 0; width: 250px; overflow-y: auto; padding: 1rem;
           box-sizing: border-box; background: #f6f8fa; border-right: 1px solid #dee2e6; font-size: .9rem; }
#sidebar .site-title { display: block; font-weight: 700; font-size: 1.2rem; margin-bottom: .75rem; color: #2780e3; text-decoration: none; }
#sidebar ol { list-style: none; padding: 0; margin: 0; }
#sidebar li a { display: block; padding: .25rem .4rem; border-radius: 4px; color: #343a40; text-decoration: none; }
#sidebar li a:hover { background: #e9ecef; }
#sidebar li a.active { background: #2780e3; color: #fff; }
#content { margin-left: 250px; padding: 1.5rem 2.5rem; max-width: 960px; }
.description { font-size: 1.15rem; color: #6c757d; }
a { color: #2780e3; }
pre { background: #f8f9fa; padding: .6rem .8rem; border-radius: 4px; overflow-x: auto; font-size: .85rem; }
.cell-output pre { background: #fff; border-left: 3px solid #dee2e6; }
code { font-size: .9em; }
img { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: .75rem 0; font-size: .9rem; }
th, td { border: 1px solid #dee2e6; padding: .25rem .5rem; }
hr { border: 0; border-top: 1px solid #dee2e6; margin: 1.5rem 0 .5rem; }
math[display="block"] { margin: .6rem 0; overflow-x: auto; overflow-y: hidden; }
'''

# nbconvert template: the markdown exporter's own, with each code cell and output in a fenced div
# (the `.cell` / `.cell-output` classes that Quarto emits and nbs/styles.css styles).
NB_TEMPLATE = '''{% extends 'markdown/index.md.j2' %}
{% block codecell %}

::: {.cell}
{{ super() }}
:::

{% endblock codecell %}
{% block output %}

::: {.cell-output}
{{ super() }}
:::

{% endblock output %}
{% block input %}
{%- if cell.metadata.get('code_fold') -%}
<details><summary>Code</summary>

{{ super() }}

</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock input %}
'''

_quarto_opt = re.compile(r'^\s*#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')

def quarto_options(cell) -> dict:
    "Remove the `#| key: value` cell options nbdev leaves for Quarto from a code cell; return them"
    lines, opts = cell.source.splitlines(True), {}
    while lines and (m := _quarto_opt.match(lines[0])):
        opts[m[1]] = m[2].strip('\'"').lower()
        lines.pop(0)
    cell.source = ''.join(lines)
    return opts

def apply_quarto_options(nb):
    "Do what Quarto does with the cell options nbdev's processors leave (`echo`, `include`, `output`, `code-fold`)"
    cells = []
    for cell in nb.cells:
        if cell.cell_type == 'raw' and cell.source.lstrip().startswith('---'): continue  # front matter
        if cell.cell_type == 'code':
            opts = quarto_options(cell)
            if opts.get('include') == 'false': continue
            if opts.get('echo') == 'false' or not cell.source.strip():
                cell.metadata['transient'] = {'remove_source': True}
            if opts.get('output') == 'false': cell.outputs = []
            if opts.get('code-fold') in ('true', 'show'): cell.metadata['code_fold'] = True  # Quarto folds the source: a <details> here
        cells.append(cell)
    nb.cells = cells

def error_outputs(nb) -> list:
    "Descriptions of the error outputs a page would show"
    return [f"cell {i}: {o.get('ename', '')}: {o.get('evalue', '')}" for i, c in enumerate(nb.cells)
            for o in c.get('outputs', []) if o.get('output_type') == 'error']

def nav_html(pages, current) -> str:
    "The sidebar: the site title and every page, in order, with `current` highlighted"
    active = ' class="active"'
    items = ''.join(f'<li><a href="{p["html"]}"{active if p["html"] == current else ""}>'
                    f'{html.escape(p["title"])}</a></li>\n' for p in pages)
    return (f'<nav id="sidebar" aria-label="Pages"><a class="site-title" href="index.html">{html.escape(pages[0]["site"])}</a>\n'
            f'<ol>\n{items}</ol></nav>\n')

def local_links(page_html:str, names:set, base:str) -> str:
    "Point links to the published docs (`doc_host`+`doc_baseurl`) and to sibling notebooks at the local pages"
    def _sub(m):
        name, anchor = m[2], m[3] or ''
        return f'{m[1]}{name}{anchor}"' if name in names else m[0]
    page_html = re.sub(rf'(href="){re.escape(base)}/([\w.-]+\.html)(#[^"]*)?"', _sub, page_html)
    from nbdev.doclinks import _nbpath2html
    def _nb(m):
        name = _nbpath2html(Path(m[2])).name
        return f'{m[1]}{name}{m[3] or ""}"' if name in names else m[0]
    return re.sub(r'(href=")(?:\./)?([\w.-]+)\.ipynb(#[^"]*)?"', _nb, page_html)

def doc_processors():
    "nbdev's docs processors (`FilterDefaults`), except that cells flagged with a `tst_flags` flag never run"
    from nbdev import processors
    from nbdev.config import get_config
    flags = set(get_config().get('tst_flags', '').split())
    class exec_show_docs(processors.exec_show_docs):
        # nbdev's docs step also runs a `#| slow` cell that contains an import: never run those here
        def __call__(self, cell):
            if not flags & set(getattr(cell, 'directives_', {})): super().__call__(cell)
    class Filter(processors.FilterDefaults):
        def base_procs(self):
            return [exec_show_docs if p is processors.exec_show_docs else p for p in super().base_procs()]
    return Filter()

def render_page(nb, out:Path, page:dict, pages:list, tmpl:Path):
    "Write the page of processed notebook `nb`: nbconvert to markdown, then pandoc to HTML with MathML"
    from execnb.nbio import nb2str
    from nbdev.config import get_config
    import nbformat, pypandoc, yaml
    from nbconvert import MarkdownExporter
    from jinja2 import DictLoader
    fm = getattr(nb, 'frontmatter_', {})
    apply_quarto_options(nb)
    nbf = nbformat.reads(nb2str(nb), as_version=4)
    exp = MarkdownExporter(extra_loaders=[DictLoader({'page.md.j2': NB_TEMPLATE})], template_file='page.md.j2')
    stem = Path(page['html']).stem
    md, res = exp.from_notebook_node(nbf, resources={'output_files_dir': f'{stem}_files', 'unique_key': stem})
    for name, data in res.get('outputs', {}).items():
        (out/name).parent.mkdir(parents=True, exist_ok=True)
        (out/name).write_bytes(data)
    meta = {k: str(fm[k]) for k in ('title', 'description') if fm.get(k)}
    meta.setdefault('title', page['title'])
    md = '---\n' + yaml.safe_dump(meta, allow_unicode=True) + '---\n\n' + md
    with tempfile.TemporaryDirectory() as d:
        (Path(d)/'nav.html').write_text(nav_html(pages, page['html']), encoding='utf-8')
        body = pypandoc.convert_text(md, 'html5', format='markdown-implicit_figures', extra_args=[
            '--standalone', '--mathml', f'--template={tmpl}', f'--include-before-body={Path(d)/"nav.html"}',
            '--syntax-highlighting=pygments', '-V', f'site={pages[0]["site"]}', '--section-divs'])
    cfg = get_config()
    base = cfg.doc_host.rstrip('/') + '/' + cfg.doc_baseurl.strip('/')
    body = local_links(body, {p['html'] for p in pages}, base.rstrip('/'))
    (out/page['html']).write_text(body, encoding='utf-8')

def build_page(job) -> tuple:
    "Process one notebook like nbdev's docs step and write its page; return (notebook, problems)"
    src, out, page, pages, tmpl = job
    os.environ['IN_TEST'] = '1'  # as nbdev.serve_drv does while processing notebooks for the docs
    os.environ.setdefault('MPLBACKEND', 'Agg')
    os.chdir(src.parent)
    from execnb.nbio import read_nb
    try:
        nb = read_nb(src)
        doc_processors()(nb)
    except Exception as e:
        head, *cell = (str(e) or type(e).__name__).splitlines()
        cause = f'\n  caused by {type(e.__cause__).__name__}: {e.__cause__}' if e.__cause__ else ''
        cell = ''.join(f'\n  | {l}' for l in cell[:4]) + ('\n  | ...' if len(cell) > 4 else '')
        return src.name, [f'nbdev docs processing failed (nbdev_docs fails the same way): {head}{cause}{cell}\n'
                          '  (nbdev runs exported cells, show_doc cells and every cell holding an import, nothing else: '
                          'keep imports in cells of their own, and define what a signature names before its show_doc)']
    problems = error_outputs(nb)
    try: render_page(nb, out, page, pages, tmpl)
    except Exception as e: problems.append(f'rendering failed: {type(e).__name__}: {e}')
    return src.name, problems

def list_pages(nbs:Path) -> list:
    "Every docs notebook in nbdev's sidebar order (index first), with its page name and title"
    from nbdev.doclinks import nbglob, _nbpath2html
    from nbdev.quarto import _sort
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.config import get_config
    files = nbglob(nbs, func=lambda a, b: (Path(a), b)).sorted(key=_sort)
    pages, site = [], get_config().title
    for d, name in files:
        src = d/name
        proc = NBProcessor(src, procs=[FrontmatterProc], process=True)  # front matter only: runs nothing
        title = getattr(proc.nb, 'frontmatter_', {}).get('title') or src.stem
        pages.append(dict(src=src, html=_nbpath2html(Path(name)).name, title=re.sub(r'`', '', str(title)), site=site))
    dup = {p['html'] for p in pages if [q['html'] for q in pages].count(p['html']) > 1}
    if dup: sys.exit(f'two notebooks give the same page name: {sorted(dup)}')
    return pages

def build(out:Path, nbs:Path=ROOT/'nbs', workers:int=2) -> list:
    "Build the site into `out`; return the problems found, as (notebook, message) pairs"
    out = out.resolve(); out.mkdir(parents=True, exist_ok=True)
    # nothing into the repository, not even bytecode of this script or of diffad (workers inherit the variable)
    sys.dont_write_bytecode = True
    os.environ['PYTHONDONTWRITEBYTECODE'] = '1'
    cwd = os.getcwd()
    os.chdir(nbs)  # as in Jupyter and nbdev_test, and so that nbdev finds settings.ini
    try: return _build(out, nbs, workers)
    finally: os.chdir(cwd)

def _build(out, nbs, workers):
    pages = list_pages(nbs)
    tmpl = out/'.page-template.html'
    tmpl.write_text(TEMPLATE, encoding='utf-8')
    (out/'site.css').write_text(SITE_CSS, encoding='utf-8')
    if (nbs/'styles.css').exists(): shutil.copy(nbs/'styles.css', out/'styles.css')
    else: (out/'styles.css').write_text('', encoding='utf-8')
    jobs = [(p['src'], out, p, pages, tmpl) for p in pages]
    # Workers get the function from the module `build_docs`, not from `__main__`: the IPython shell that
    # runs nbdev's `show_doc` cells replaces `sys.modules['__main__']` in the worker.
    if str(Path(__file__).parent) not in sys.path: sys.path.insert(0, str(Path(__file__).parent))
    import build_docs
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context('spawn')) as ex:
            results = list(ex.map(build_docs.build_page, jobs))
    finally: tmpl.unlink()
    return [(nb, msg) for nb, msgs in results for msg in msgs]

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', required=True, type=Path, help='folder to write the site into')
    ap.add_argument('--workers', type=int, default=min(2, os.cpu_count() or 1), help='notebooks processed in parallel')
    args = ap.parse_args()
    start = time.time()
    problems = build(args.out, workers=args.workers)
    for nb, msg in problems: print(f'ERROR {nb}: {msg}', file=sys.stderr)
    print(f'docs site in {args.out} ({time.time() - start:.0f} s)' + (f'; {len(problems)} problem(s)' if problems else ''))
    sys.exit(1 if problems else 0)
