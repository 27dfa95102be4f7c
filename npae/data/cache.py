"""The data cache, the downloads and the checksums, for every dataset npae reads.

Files are looked up, in order, in ``$NPAE_DATA/<name>/``, ``$NPAE_DATA/`` itself, and the
cache folder ``$NPAE_CACHE/<name>/`` (default ``~/.cache/npae/<name>/``): see
:func:`search_folders`. A missing file is downloaded by :func:`fetch` from the official
mirrors (:data:`MIRRORS`) into the cache folder, through a temporary file that is
verified before it is renamed, so a failed download leaves nothing behind;
``NPAE_OFFLINE=1`` turns downloads off (:func:`offline`). Every file is checked against
the published MD5 sums in :data:`MD5` where there is one (their origin: the
:mod:`npae.data` docstring). Parsed arrays are kept in memory per process
(:func:`remember`, :func:`recall`), keyed so that a replaced file is read again;
:func:`clear_cache` forgets them.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MD5", "MIRRORS", "cache_dir", "search_folders", "offline", "md5_hex",
           "known_elsewhere", "check_md5", "fetch", "memory_key", "recall", "remember",
           "clear_cache"]

#: Known MD5 sums by dataset and file name (their origin: the :mod:`npae.data` docstring).
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        # derived: MD5 of the decompressed published .gz label files
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    # the published MD5 of CIFAR-10's binary archive (on the CIFAR-10 page)
    "cifar10": {"cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530"},
}

#: Base URLs tried in order; each serves the dataset's files (the four ``.gz`` files of an
#: MNIST-family dataset, CIFAR-10's archive).
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/"],
}

#: Parsed arrays by (file, size, mtime, dataset, expected MD5): a replaced file is re-read.
_memory: dict[tuple, Any] = {}
_memory_lock = threading.Lock()


def cache_dir() -> Path:
    """The download cache: ``$NPAE_CACHE`` or ``~/.cache/npae``."""
    env = os.environ.get("NPAE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "npae"


def search_folders(name: str) -> list[Path]:
    """The folders searched for dataset ``name``'s files, in order (module docstring)."""
    folders = []
    env = os.environ.get("NPAE_DATA")
    if env:
        folders += [Path(env).expanduser() / name, Path(env).expanduser()]
    folders.append(cache_dir() / name)
    return folders



def offline() -> bool:
    """True when ``NPAE_OFFLINE`` is set (to anything but ``0``, ``false``, ``no``)."""
    return os.environ.get("NPAE_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def md5_hex(data: bytes) -> str:
    """The MD5 of ``data``, in hex (a checksum, not security)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def known_elsewhere(digest: str, filename: str, dataset: str | None) -> str | None:
    """The other dataset whose ``filename`` has this MD5, if any."""
    for other, table in MD5.items():
        if other != dataset and table.get(filename) == digest:
            return other
    return None


def check_md5(raw: bytes, md5: str | None, source: str, digest: str | None = None) -> None:
    """Refuse ``raw`` unless its MD5 is ``md5`` (nothing to check when ``md5`` is None)."""
    if md5 is not None:
        digest = digest or md5_hex(raw)
        if digest != md5.lower():
            raise ValueError(
                f"npae.data: checksum mismatch for {source}: MD5 {digest}, expected {md5}; "
                "the file is corrupt, truncated or not the published one. Delete it and "
                "download it again.")



def fetch(filename: str, folder: str | os.PathLike, *, mirrors: Sequence[str],
          parse: Callable[[bytes, str], Any], md5: str | None = None, timeout: float = 30.0
          ) -> tuple[Path, Any]:
    """Download ``filename`` from the first mirror that serves a verified copy.

    Each attempt streams into a temporary file in ``folder``; the copy is checked (the
    advertised length, ``md5`` when given, and its structure by ``parse``) and only then renamed
    to ``folder/filename`` with :func:`os.replace`. A failed attempt removes its temporary
    file, so ``folder`` never holds a half-written file.

    Parameters
    ----------
    filename : str
        E.g. ``"train-images-idx3-ubyte.gz"``; appended to each mirror's base URL.
    folder : path-like
        Target folder, created if needed.
    mirrors : sequence of str
        Base URLs (ending in ``/``), tried in order.
    parse : callable
        ``parse(raw_bytes, source) -> result``, run after the MD5 check: the format's
        parser (:func:`npae.data.idx.decode_idx`, CIFAR-10's archive reader); it raises
        ``ValueError`` for a bad file.
    md5 : str, optional
        Expected MD5 (hex) of the file's bytes.
    timeout : float
        Seconds for connecting and for each read.

    Returns
    -------
    (path, result)
        Where the file now lies, and what ``parse`` returned.

    Raises
    ------
    OSError
        When every mirror fails (unreachable, HTTP error, cut short or corrupt); the message
        lists each mirror's failure.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for base in mirrors:
        url = base if base.endswith(filename) else base.rstrip("/") + "/" + filename
        fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as r:
                length = r.headers.get("Content-Length")
                size = 0
                while chunk := r.read(1 << 20):
                    out.write(chunk)
                    size += len(chunk)
            if length is not None and size != int(length):
                raise ValueError(f"received {size} of {length} bytes (download cut short)")
            raw = Path(tmp).read_bytes()
            check_md5(raw, md5, url)
            arr = parse(raw, url)
            os.replace(tmp, folder / filename)
            return folder / filename, arr
        except (OSError, ValueError, http.client.HTTPException) as err:
            failures.append(f"{url}: {err}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise OSError(f"npae.data: could not download {filename} into {folder}:\n  "
                  + "\n  ".join(failures or ["no mirrors given"]))



def memory_key(path: Path, name: str, md5: str | None) -> tuple:
    """The key of the arrays parsed from ``path`` for dataset ``name``: it changes when
    the file is replaced (size, modification time) or checked against another sum."""
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, name, md5)


def recall(key: tuple) -> Any:
    """What :func:`remember` kept under ``key``, or None."""
    with _memory_lock:
        return _memory.get(key)


def remember(key: tuple, value: Any) -> None:
    """Keep ``value`` (arrays parsed from a file) under ``key`` for this process."""
    with _memory_lock:
        _memory[key] = value


def clear_cache() -> None:
    """Forget the arrays parsed so far in this process."""
    with _memory_lock:
        _memory.clear()

