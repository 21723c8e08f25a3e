"""Setup for diffad: every setting comes from settings.ini (nbdev 2)."""
from configparser import ConfigParser
from pathlib import Path
import setuptools

here = Path(__file__).resolve().parent
cfg = ConfigParser(delimiters=['='])
if not cfg.read(here / 'settings.ini', encoding='utf-8'): raise FileNotFoundError(f'settings.ini not found next to {__file__}')
cfg = cfg['DEFAULT']

expected = 'version description keywords author author_email'.split()
missing = [o for o in expected if o not in cfg]
if missing: raise ValueError(f'settings.ini is missing: {missing}')

requirements = cfg.get('requirements', '').split()
dev_requirements = cfg.get('dev_requirements', '').split()
min_python = cfg['min_python']
py_versions = '3.11 3.12 3.13'.split()
lic = dict(apache2='Apache-2.0', mit='MIT', gpl3='GPL-3.0-or-later', bsd3='BSD-3-Clause')

setuptools.setup(
    name=cfg['lib_name'],
    license=lic.get(cfg['license'], cfg['license']),
    classifiers=['Development Status :: 3 - Alpha',
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title(),
                 ] + ['Programming Language :: Python :: ' + v for v in py_versions[py_versions.index(min_python):]],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['diffad', 'diffad.*']),
    # The shipped checkpoints, listed here. include_package_data (on by default with a [project]
    # table in pyproject.toml) would take diffad/assets, which has no __init__.py, for a namespace
    # package and warn.
    include_package_data=False,
    package_data={'diffad': ['assets/*.pt']},
    install_requires=requirements,
    extras_require={'dev': dev_requirements},
    dependency_links=cfg.get('dep_links', '').split(),
    python_requires='>=' + min_python,
    long_description=(here / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': cfg.get('console_scripts', '').split(),
                  'nbdev': [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d']},
    version=cfg['version'],
    description=cfg['description'],
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
)
