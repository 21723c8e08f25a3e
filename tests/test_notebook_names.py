"""Every name a notebook's code uses is defined, in every cell and every branch.

Quick mode (what `nbdev_test` and CI run) never reaches some code: 08's λ search, 09's and 10's full
experiments. A missing import there shows only hours into a full run. pyflakes reads every code cell of
every notebook as one module (star imports resolved to the names they bring) and names each undefined one.
"""
import importlib, json, re
from pathlib import Path
import pytest
from pyflakes import checker, messages
import ast

NBS = sorted((Path(__file__).resolve().parents[1] / 'nbs').glob('*.ipynb'))
IPYTHON = {'display', 'get_ipython', 'In', 'Out'}   # names the kernel defines
STAR = re.compile(r'^\s*from\s+([\w.]+)\s+import\s+\*\s*$')

def star_names(module:str) -> list[str]:
    "The names `from module import *` brings."
    m = importlib.import_module(module)
    return list(getattr(m, '__all__', None) or [n for n in vars(m) if not n.startswith('_')])

def module_source(nb:Path) -> str:
    "The notebook's code cells as one module: magics, shell lines and cell directives blanked, star imports made explicit, the future import first."
    out = []
    for c in json.loads(nb.read_text(encoding='utf-8'))['cells']:
        if c['cell_type'] != 'code': continue
        for line in ''.join(c['source']).splitlines():
            s = line.strip()
            if s.startswith(('%', '!')) or re.match(r'#\s*\|', s) or s == 'from __future__ import annotations': out.append(''); continue
            m = STAR.match(line)
            out.append(f"{line[:len(line) - len(line.lstrip())]}from {m[1]} import {', '.join(star_names(m[1]))}" if m else line)
    future = any(re.search(r'^from __future__ import annotations$', ''.join(c['source']), re.M) for c in json.loads(nb.read_text(encoding='utf-8'))['cells'])
    return ('from __future__ import annotations;' if future else '') + '\n'.join(out) + '\n'   # on the first line: annotations stay lazy, line numbers stay

def undefined(nb:Path) -> list[str]:
    "Each undefined name of the notebook's code, with its line in `module_source`."
    src = module_source(nb)
    w = checker.Checker(ast.parse(src, str(nb)), str(nb), builtins=IPYTHON)
    return [f'{nb.name}: line {m.lineno}: {m.message % m.message_args}  | {src.splitlines()[m.lineno - 1].strip()[:120]}'
            for m in w.messages if isinstance(m, (messages.UndefinedName, messages.UndefinedLocal))]

def test_module_source_catches_a_missing_name(tmp_path):
    nb = dict(cells=[dict(cell_type='code', source='#| export\nfrom fastcore.test import *\nimport os'),
                     dict(cell_type='markdown', source='text'),
                     dict(cell_type='code', source='%time x = 1\nif False:\n    test_eq(os.sep, missing_name)')], metadata={}, nbformat=4, nbformat_minor=5)
    f = tmp_path / 'toy.ipynb'; f.write_text(json.dumps(nb))
    src = module_source(f)
    assert 'from fastcore.test import ' in src and 'test_eq' in src and '%time' not in src and '#| export' not in src
    found = undefined(f)
    assert len(found) == 1 and "'missing_name'" in found[0]   # test_eq and os are defined; the name in the branch no run reaches is not

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_no_undefined_names(nb):
    assert not undefined(nb), '\n'.join(undefined(nb))
