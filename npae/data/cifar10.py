"""CIFAR-10, read from the official binary distribution (bytes, never pickle).

``"cifar10"`` (60000 colour images ``(N, 3, 32, 32)``, 50000 for training and 10000 for
testing, values 0..255 divided by 255, labels 0..9) is read from the official *binary*
distribution, ``cifar-10-binary.tar.gz``, whose five ``data_batch_<i>.bin`` files and
``test_batch.bin`` are runs of 3073-byte records (a label byte, then the red, green and
blue 32x32 planes): parsed as bytes (:func:`parse_cifar_batch`), never unpickled. The same
folders are searched as for MNIST (with ``cifar10`` for ``<name>``); each may hold the
archive, verified against its published MD5 (:data:`MD5`) and read in memory, or the
extracted ``cifar-10-batches-bin/`` folder (or its files directly), whose files have no
published sums and are verified by structure (whole records, labels 0..9, 10000 images a
file). When absent, the archive (about 162 MB) is downloaded to the cache as above.
"""

from __future__ import annotations

import io
import os
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from npae.data.cache import (
    MD5,
    MIRRORS,
    cache_dir,
    check_md5,
    fetch,
    memory_key,
    offline,
    recall,
    remember,
    search_folders,
)

__all__ = ["CIFAR10_ARCHIVE", "CIFAR10_FOLDER", "CIFAR10_FILES", "parse_cifar_batch",
           "load_cifar10"]

CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
"""The file name of the official binary distribution of CIFAR-10."""
CIFAR10_FOLDER = "cifar-10-batches-bin"
"""The folder inside the archive that holds the batch files."""
CIFAR10_FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
                 "test": ("test_batch.bin",)}
_CIFAR_SIDE, _CIFAR_CLASSES, _CIFAR_PER_FILE = 32, 10, 10000
_CIFAR_RECORD = 1 + 3 * _CIFAR_SIDE * _CIFAR_SIDE   # a label byte, then 1024 R, G, B bytes


def parse_cifar_batch(data: bytes, *, source: str = "CIFAR-10 batch"
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Parse one file of CIFAR-10's binary distribution (e.g. ``data_batch_1.bin``).

    The file is a run of 3073-byte records: a label byte (0..9), then the 32x32 red
    channel, the green and the blue, each row by row. Bytes only: nothing is unpickled.

    Returns
    -------
    (images, labels)
        Read-only ``uint8`` arrays ``(N, 3, 32, 32)`` and ``(N,)``.

    Raises
    ------
    ValueError
        An empty file, a length that is not a whole number of records (a truncated file),
        or a label outside 0..9 (not a CIFAR-10 file).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"npae.data.parse_cifar_batch: data must be bytes, got "
                        f"{type(data).__name__}")
    n, rest = divmod(len(data), _CIFAR_RECORD)
    if n == 0 or rest:
        raise ValueError(
            f"npae.data: {source} is truncated or not a CIFAR-10 batch: {len(data)} bytes is "
            f"not a whole number of {_CIFAR_RECORD}-byte records (1 label byte + 3072 pixel "
            f"bytes; a full batch is {_CIFAR_PER_FILE * _CIFAR_RECORD} bytes). Delete it and "
            "download it again.")
    records = np.frombuffer(data, dtype=np.uint8).reshape(n, _CIFAR_RECORD)
    labels = records[:, 0]
    if labels.max() >= _CIFAR_CLASSES:
        bad = int(np.argmax(labels >= _CIFAR_CLASSES))
        raise ValueError(f"npae.data: {source} is not a CIFAR-10 batch: record {bad} has label "
                         f"{labels[bad]}, expected 0..9")
    images = records[:, 1:].reshape(n, 3, _CIFAR_SIDE, _CIFAR_SIDE)
    return images, labels


def _cifar_archive(raw: bytes, source: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every batch of the binary archive, parsed, by file name (all or nothing)."""
    wanted = {f"{CIFAR10_FOLDER}/{f}": f for files in CIFAR10_FILES.values() for f in files}
    batches = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
            for member in tar.getmembers():
                if member.name in wanted and member.isfile():
                    batches[wanted[member.name]] = parse_cifar_batch(
                        tar.extractfile(member).read(), source=f"{source}:{member.name}")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise ValueError(f"npae.data: {source} is not a complete tar archive ({err}); it is "
                         "truncated or corrupt. Delete it and download it again.") from None
    if not batches:
        raise ValueError(f"npae.data: {source} holds none of the CIFAR-10 batch files "
                         f"({CIFAR10_FOLDER}/data_batch_1.bin, ...)")
    return batches


def _cifar_batches(table: Mapping[str, str], files: Sequence[str]
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """The split's batches from the first search folder that holds them, or None.

    A folder holds them as the archive (verified by its MD5 and parsed in memory) or
    as the extracted files, in ``cifar-10-batches-bin/`` or directly (each verified by
    ``table`` when it names the file, and by its record structure).
    """
    for folder in search_folders("cifar10"):
        archive = folder / CIFAR10_ARCHIVE
        for where in (folder / CIFAR10_FOLDER, folder):
            if all((where / f).is_file() for f in files):
                found = {}
                for f in files:
                    raw = (where / f).read_bytes()
                    check_md5(raw, table.get(f), str(where / f))
                    found[f] = parse_cifar_batch(raw, source=str(where / f))
                return found
        if archive.is_file():
            key = memory_key(archive, "cifar10", table.get(CIFAR10_ARCHIVE))
            batches = recall(key)
            if batches is None:
                raw = archive.read_bytes()
                check_md5(raw, table.get(CIFAR10_ARCHIVE), str(archive))
                batches = _cifar_archive(raw, str(archive))
                remember(key, batches)
            return batches
    return None


def load_cifar10(part: str, *, download: bool, mirrors: Sequence[str] | None,
                 checksums: Mapping[str, str] | None, timeout: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 images ``(N, 3, 32, 32)`` and labels ``(N,)`` of split ``part``
    (``"train"``: the five data batches, ``"test"``: the test batch), found in a search
    folder or downloaded, and verified (see the module docstring)."""
    table = MD5["cifar10"] if checksums is None else checksums
    files = CIFAR10_FILES[part]
    batches = _cifar_batches(table, files)
    if batches is None:
        where = (f"{Path(os.environ['NPAE_DATA']) / 'cifar10'}/ (from NPAE_DATA)"
                 if os.environ.get("NPAE_DATA") else
                 "<NPAE_DATA>/cifar10/ (NPAE_DATA names a folder)")
        hint = (f"Put {CIFAR10_ARCHIVE} (or its {CIFAR10_FOLDER}/ folder) in {where} or in "
                f"{cache_dir() / 'cifar10'}/ (the cache).")
        if not download or offline():
            raise FileNotFoundError(f"npae.data: CIFAR-10 not found and not downloaded "
                                    f"(download=False or NPAE_OFFLINE is set). {hint}")
        try:
            _, batches = fetch(
                CIFAR10_ARCHIVE, cache_dir() / "cifar10",
                mirrors=MIRRORS["cifar10"] if mirrors is None else mirrors,
                md5=table.get(CIFAR10_ARCHIVE), timeout=timeout, parse=_cifar_archive)
        except OSError as err:
            raise FileNotFoundError(f"npae.data: CIFAR-10 not found, and the download failed "
                                    f"({err}). {hint}") from None
    missing = [f for f in files if f not in batches]
    if missing:
        raise ValueError(f"npae.data: the CIFAR-10 archive lacks {missing}")
    official = checksums is None
    short = [f for f in files if official and len(batches[f][1]) != _CIFAR_PER_FILE]
    if short:
        raise ValueError(f"npae.data: CIFAR-10 files {short} do not hold {_CIFAR_PER_FILE} "
                         "images each; they are not the published ones")
    return (np.concatenate([batches[f][0] for f in files]),
            np.concatenate([batches[f][1] for f in files]))
