"""Write README.md from nbs/index.ipynb (what `nbdev_readme` does, without Quarto).

Usage: python tools/make_readme.py [--check]   (--check: exit 1 if README.md is out of date)
"""
import json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
DIRECTIVE = re.compile(r'^\s*#\s*\|')

def cell_md(cell) -> str:
    src = ''.join(cell['source'])
    lines = src.splitlines()
    if any(re.match(r'^\s*#\s*\|\s*hide\b', l) for l in lines): return ''
    if cell['cell_type'] == 'markdown': return re.sub(r'\]\((?!\w+:)([^)/]+\.ipynb)\)', r'](nbs/\1)', src).strip()  # links between notebooks, from the root
    code = '\n'.join(l for l in lines if not DIRECTIVE.match(l)).strip()
    outs = [''.join(o.get('text', '')) or ''.join(o.get('data', {}).get('text/plain', ''))
            for o in cell.get('outputs', [])]
    out = '\n'.join(o.rstrip() for o in outs if o.strip())
    return f'```python\n{code}\n```' + (f'\n\n    ' + out.replace('\n', '\n    ') if out else '')

def readme() -> str:
    nb = json.loads((root / 'nbs' / 'index.ipynb').read_text(encoding='utf-8'))
    body = '\n\n'.join(m for m in map(cell_md, nb['cells']) if m)
    return '<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file -->\n\n' + body + '\n'

if __name__ == '__main__':
    text, path = readme(), root / 'README.md'
    if '--check' in sys.argv:
        if path.read_text(encoding='utf-8') != text:
            sys.exit('README.md is out of date with nbs/index.ipynb: run python tools/make_readme.py')
    else: path.write_text(text, encoding='utf-8')
