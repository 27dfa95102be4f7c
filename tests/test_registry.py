"""The class registries and the import graph: npae.io and npae.models never import each other
in a cycle.

``npae.models.autoencoder`` imports ``npae.io`` (``save``, ``load_parameters``) and both use
the model registry, so the registry lives in ``npae.layers.base`` beside ``LAYERS``, which
both import; ``npae.io`` imports nothing from ``npae.models``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_io_imports_nothing_from_models():
    imported = _imported_modules(REPO / "npae" / "io.py")
    assert not {m for m in imported if m == "npae.models" or m.startswith("npae.models.")}


def test_one_registry_shared_by_io_and_models():
    import npae.io
    import npae.layers.base
    import npae.models
    import npae.models.autoencoder

    assert npae.io.MODELS is npae.layers.base.MODELS is npae.models.MODELS
    assert npae.models.autoencoder.MODELS is npae.models.MODELS
    assert npae.models.MODELS["VAE"] is npae.models.VAE


@pytest.mark.parametrize("first", ["npae.io", "npae.models.autoencoder", "npae.models.variational"])
def test_any_module_imported_first_loads_and_knows_every_model(first, tmp_path):
    """A fresh interpreter that imports one module first: no ImportError from a half-loaded
    module, and load() knows npae's model classes without importing npae.models itself."""
    code = (f"import {first}\n"
            "import sys\n"
            "from npae.io import load\n"
            "from npae.layers.base import MODELS\n"
            "print(sorted(MODELS))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "MPLBACKEND": "Agg",
                               "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    for name in ("Autoencoder", "DenoisingAutoencoder", "SparseAutoencoder",
                 "ContractiveAutoencoder", "VAE"):
        assert repr(name) in proc.stdout
