"""Packaging hook: the course ships inside the wheel.

Everything declarative lives in ``setup.cfg``; this file only says which packages go in,
because one of them is not a folder of ``npae/``: the tutorials (``tutorials/*.py``,
``_common.py`` included) are built into the wheel as ``npae/_tutorials/``, taken from the
top-level ``tutorials/`` of the checkout at build time. One source, no copy in git;
``npae.tutorials.tutorials_dir`` finds them there once installed (``npae tutorial list``,
``run``, ``copy`` outside any checkout).
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["npae", "npae.*"]) + ["npae._tutorials"],
    # not an importable package (tutorial files start with digits): a folder of scripts
    # that build_py copies, every *.py of tutorials/
    package_dir={"npae._tutorials": "tutorials"},
)
