"""Datasets: digits splits, the IDX reader, checksums, downloads, and real MNIST."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import load_digits

from npae import data


# --------------------------------------------------------------------------- helpers
def idx_bytes(arr: np.ndarray, type_code: int = 0x08, dtype: str = "u1") -> bytes:
    """IDX encoding written out from the format description, independently of the reader."""
    header = bytes([0, 0, type_code, arr.ndim]) + b"".join(struct.pack(">I", n)
                                                          for n in arr.shape)
    return header + np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder(">")).tobytes()


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def fake_mnist(folder: Path, n_train: int = 12, n_test: int = 5, size: int = 4,
               gz: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the four files of a tiny MNIST-like dataset; returns the arrays written."""
    g = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": g.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train-labels-idx1-ubyte": g.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": g.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": g.integers(0, 10, n_test, dtype=np.uint8),
    }
    for stem, arr in arrays.items():
        raw = idx_bytes(arr)
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(raw, mtime=0))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test reads the user's real folders or touches the network unless it says so."""
    monkeypatch.delenv("NPAE_DATA", raising=False)
    monkeypatch.setenv("NPAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NPAE_OFFLINE", "1")
    data.clear_cache()
    yield
    data.clear_cache()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _CutShort(http.server.BaseHTTPRequestHandler):
    """Announces the whole file but sends only its first half, then hangs up."""

    payload = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload[: len(self.payload) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """``serve(handler) -> base URL`` of a server on 127.0.0.1, stopped after the test."""
    servers = []

    def start(handler) -> str:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def serve_folder(serve, folder: Path) -> str:
    return serve(functools.partial(_Quiet, directory=str(folder)))


# --------------------------------------------------------------------------- digits
def test_digits_train_test_split_is_the_last_20_percent():
    ref = load_digits()
    tr, te = data.load("digits"), data.load("digits", "test")
    assert tr.images.shape == (1438, 1, 8, 8) and te.images.shape == (359, 1, 8, 8)
    assert tr.images.dtype == np.float32 and tr.labels.dtype == np.int64
    both = np.concatenate([tr.images, te.images])[:, 0]
    np.testing.assert_array_equal(both, (ref.images / 16).astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([tr.labels, te.labels]), ref.target)
    assert tr.images.min() == 0.0 and tr.images.max() == 1.0
    assert set(te.labels.tolist()) == set(range(10))
    X, y = tr  # unpacks like a pair
    assert X is tr.images and y is tr.labels


def test_validation_split_is_deterministic_and_disjoint():
    full = data.load("digits")
    tr = data.load("digits", validation=0.25, seed=3)
    va = data.load("digits", "val", validation=0.25, seed=3)
    assert len(va.images) == round(0.25 * 1438) and len(tr.images) + len(va.images) == 1438
    # the two parts partition the training set: match rows back to their indices
    key = {row.tobytes(): i for i, row in enumerate(full.flat)}
    i_tr = [key[r.tobytes()] for r in tr.flat]
    i_va = [key[r.tobytes()] for r in va.flat]
    assert len(set(key)) == 1438  # digits rows are unique, so the mapping is exact
    assert sorted(i_tr + i_va) == list(range(1438))
    assert i_tr == sorted(i_tr) and i_va == sorted(i_va)  # original order kept
    np.testing.assert_array_equal(va.labels, full.labels[i_va])
    again = data.load("digits", "val", validation=0.25, seed=3)
    np.testing.assert_array_equal(again.images, va.images)
    other = data.load("digits", "val", validation=0.25, seed=4)
    assert not np.array_equal(other.images, va.images)
    assert len(data.load("digits", "val", validation=100).images) == 100
    assert len(data.load("digits", "val").images) == round(0.1 * 1438)  # default 10 %


def test_limit_flatten_and_fresh_arrays():
    d = data.load("digits", limit=7)
    assert d.images.shape == (7, 1, 8, 8) and d.flat.shape == (7, 64)
    assert data.flatten(d.images).shape == (7, 64)
    d.images[:] = -1  # the caller owns the arrays; the next load is unaffected
    assert data.load("digits", limit=7).images.min() == 0.0


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "cifar"}, "name must be one of"),
    ({"split": "validation"}, "split must be"),
    ({"validation": 1.5}, r"\(0, 1\)"),
    ({"validation": 0}, "validation must leave"),
    ({"validation": 2000}, "validation must leave"),
    ({"limit": 0}, "limit must be"),
])
def test_load_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load(**kwargs)


def test_flatten_refuses_1d():
    with pytest.raises(ValueError, match="at least 2"):
        data.flatten(np.zeros(3))


# --------------------------------------------------------------------------- IDX reader
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4),
       kind=st.sampled_from([(0x08, "u1"), (0x09, "i1"), (0x0B, "i2"), (0x0C, "i4"),
                             (0x0D, "f4"), (0x0E, "f8")]),
       seed=st.integers(0, 1000))
def test_parse_idx_round_trip(shape, kind, seed):
    code, dt = kind
    g = np.random.default_rng(seed)
    arr = (g.normal(size=shape) * 100).astype(dt)
    out = data.parse_idx(idx_bytes(arr, code, dt))
    assert out.shape == tuple(shape) and out.dtype == np.dtype(dt).newbyteorder("=")
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_gz_and_raw(tmp_path, gz):
    arrays = fake_mnist(tmp_path, gz=gz)
    for stem, arr in arrays.items():
        path = tmp_path / (stem + ".gz" if gz else stem)
        magic = 2051 if "images" in stem else 2049
        out = data.read_idx(path, md5=md5(path.read_bytes()), expect_magic=magic)
        np.testing.assert_array_equal(out, arr)


def test_idx_bad_magic(tmp_path):
    labels = idx_bytes(np.arange(5, dtype=np.uint8))  # magic 2049
    with pytest.raises(ValueError, match="magic number 2049.*expected 2051"):
        data.parse_idx(labels, expect_magic=2051, source="x")
    with pytest.raises(ValueError, match="not a valid IDX header"):
        data.parse_idx(b"<html>not found</html>")
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 4)
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(path)


def test_idx_truncated_and_overlong():
    good = idx_bytes(np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"truncated: 40 bytes, expected exactly 64"):
        data.parse_idx(good[:40])
    with pytest.raises(ValueError, match="truncated"):
        data.parse_idx(good[:10])  # inside the header
    with pytest.raises(ValueError, match="truncated"):
        data.parse_idx(good[:2])
    with pytest.raises(ValueError, match="longer than its header says"):
        data.parse_idx(good + b"\x00")
    with pytest.raises(TypeError, match="bytes"):
        data.parse_idx("text")


def test_truncated_gzip_is_refused(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    blob = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8) % 10))
    path.write_bytes(blob[: len(blob) - 9])
    with pytest.raises(ValueError, match="not a complete gzip file"):
        data.read_idx(path)


def test_checksum_mismatch(tmp_path, monkeypatch):
    fake_mnist(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with pytest.raises(ValueError, match="checksum mismatch"):
        data.read_idx(path, md5="0" * 32)
    # the official table: a file that is not the published one is refused by load()
    monkeypatch.setenv("NPAE_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="checksum mismatch"):
        data.load("mnist", "test")


# --------------------------------------------------------------------------- finding / load
@pytest.mark.parametrize("sub", [True, False])
def test_load_from_npae_data(tmp_path, monkeypatch, sub):
    folder = tmp_path / "data" / ("mnist" if sub else "")
    arrays = fake_mnist(folder, gz=sub)
    monkeypatch.setenv("NPAE_DATA", str(tmp_path / "data"))
    X, y = data.load("mnist", "test", checksums={})
    assert X.shape == (5, 1, 4, 4) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(X[:, 0], arrays["t10k-images-idx3-ubyte"] / np.float32(255))
    np.testing.assert_array_equal(y, arrays["t10k-labels-idx1-ubyte"])
    tr = data.load("mnist", "train", checksums={}, validation=4)
    va = data.load("mnist", "val", checksums={}, validation=4)
    assert len(tr.images) == 8 and len(va.images) == 4


def test_memory_cache_follows_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("NPAE_DATA", str(tmp_path))
    fake_mnist(tmp_path, seed=0)
    first = data.load("mnist", "test", checksums={})
    again = data.load("mnist", "test", checksums={})
    np.testing.assert_array_equal(first.images, again.images)
    new = fake_mnist(tmp_path, seed=1)  # replaced on disk: re-read, not served stale
    st_ = (tmp_path / "t10k-images-idx3-ubyte.gz").stat()
    os.utime(tmp_path / "t10k-images-idx3-ubyte.gz", ns=(st_.st_atime_ns, st_.st_mtime_ns + 10**9))
    os.utime(tmp_path / "t10k-labels-idx1-ubyte.gz", ns=(st_.st_atime_ns, st_.st_mtime_ns + 10**9))
    fresh = data.load("mnist", "test", checksums={})
    np.testing.assert_array_equal(fresh.labels, new["t10k-labels-idx1-ubyte"])


def test_inconsistent_files_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("NPAE_DATA", str(tmp_path))
    fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(4, np.uint8))))
    with pytest.raises(ValueError, match="expected"):
        data.load("mnist", "test", checksums={})


def test_cache_dir(tmp_path, monkeypatch):
    assert data.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("NPAE_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "npae"


def test_offline_and_absent_says_where_to_put_files(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        data.load("fashion-mnist", "test")
    msg = str(info.value)
    assert "NPAE_DATA" in msg and "t10k-images-idx3-ubyte.gz" in msg
    assert str(tmp_path / "cache" / "fashion-mnist") in msg


def test_fashion_mnist_files_are_found_where_mnist_would_be(tmp_path, monkeypatch):
    """Tutorial 14 uses Fashion-MNIST when ``data.load("fashion-mnist")`` finds it: raw
    IDX files in ``$NPAE_DATA/fashion-mnist/`` (names shared with MNIST's) are read,
    labels and pixels as written (pixels scaled to [0, 1]). Tiny files, so without the
    official shape check (``checksums={}``, as for private data in IDX form)."""
    monkeypatch.setenv("NPAE_DATA", str(tmp_path))
    arrays = fake_mnist(tmp_path / "fashion-mnist", gz=False, seed=3)
    for split, stem in (("train", "train"), ("test", "t10k")):
        got = data.load("fashion-mnist", split, checksums={})
        np.testing.assert_array_equal(got.labels, arrays[f"{stem}-labels-idx1-ubyte"])
        np.testing.assert_allclose(got.images[:, 0] * 255,
                                   arrays[f"{stem}-images-idx3-ubyte"], atol=1e-4)
    with pytest.raises(FileNotFoundError, match="mnist"):
        data.load("mnist", "test")  # the Fashion folder is not MNIST's


# --------------------------------------------------------------------------- downloads
def test_download_verified_and_renamed(tmp_path, serve):
    src = tmp_path / "srv"
    arrays = fake_mnist(src)
    base = serve_folder(serve, src)
    target = tmp_path / "target"
    name = "t10k-images-idx3-ubyte.gz"
    path, arr = data.download_file(name, target, mirrors=[base],
                                   md5=md5((src / name).read_bytes()), expect_magic=2051,
                                   timeout=5)
    assert path == target / name and sorted(os.listdir(target)) == [name]
    np.testing.assert_array_equal(arr, arrays["t10k-images-idx3-ubyte"])
    assert (target / name).read_bytes() == (src / name).read_bytes()


def test_download_falls_back_to_the_next_mirror(tmp_path, serve):
    src = tmp_path / "srv"
    fake_mnist(src)
    empty = tmp_path / "empty"
    empty.mkdir()
    name = "t10k-labels-idx1-ubyte.gz"
    path, _ = data.download_file(name, tmp_path / "t",
                                 mirrors=[serve_folder(serve, empty), serve_folder(serve, src)],
                                 timeout=5)
    assert path.read_bytes() == (src / name).read_bytes()


def test_cut_short_download_leaves_nothing(tmp_path, serve):
    blob = gzip.compress(idx_bytes(np.arange(5000, dtype=np.uint8)))
    handler = type("Cut", (_CutShort,), {"payload": blob})
    target = tmp_path / "target"
    with pytest.raises(OSError, match="could not download"):
        data.download_file("train-labels-idx1-ubyte.gz", target, mirrors=[serve(handler)],
                           timeout=5)
    assert os.listdir(target) == []


def test_corrupt_download_leaves_nothing(tmp_path, serve):
    src = tmp_path / "srv"
    fake_mnist(src)
    target = tmp_path / "target"
    with pytest.raises(OSError, match="checksum mismatch"):
        data.download_file("t10k-labels-idx1-ubyte.gz", target,
                           mirrors=[serve_folder(serve, src)], md5="f" * 32, timeout=5)
    assert os.listdir(target) == []
    with pytest.raises(OSError, match="magic number"):  # labels served for images
        data.download_file("t10k-labels-idx1-ubyte.gz", target,
                           mirrors=[serve_folder(serve, src)], expect_magic=2051, timeout=5)
    assert os.listdir(target) == []


def test_load_downloads_into_the_cache(tmp_path, serve, monkeypatch):
    monkeypatch.delenv("NPAE_OFFLINE")
    src = tmp_path / "srv"
    arrays = fake_mnist(src)
    sums = {p.name: md5(p.read_bytes()) for p in src.iterdir()}
    base = serve_folder(serve, src)
    X, y = data.load("mnist", "train", mirrors=[base], checksums=sums, timeout=5)
    np.testing.assert_array_equal(y, arrays["train-labels-idx1-ubyte"])
    cached = tmp_path / "cache" / "mnist"
    assert sorted(os.listdir(cached)) == ["train-images-idx3-ubyte.gz",
                                          "train-labels-idx1-ubyte.gz"]
    # unreachable mirror: the message lists the failure and where to put the files
    with pytest.raises(FileNotFoundError, match=r"127\.0\.0\.1:1/.*Put the four files"):
        data.load("mnist", "test", mirrors=["http://127.0.0.1:1/"], checksums=sums,
                  timeout=5)


# --------------------------------------------------------------------------- real MNIST
def test_real_mnist(mnist_dir, monkeypatch):
    monkeypatch.setenv("NPAE_DATA", str(mnist_dir))
    tr, te = data.load("mnist", "train"), data.load("mnist", "test")
    assert tr.images.shape == (60000, 1, 28, 28) and te.images.shape == (10000, 1, 28, 28)
    for d in (tr, te):
        assert d.images.dtype == np.float32 and d.labels.dtype == np.int64
        assert d.images.min() == 0.0 and d.images.max() == 1.0
        assert set(np.unique(d.labels).tolist()) == set(range(10))
    # published facts about MNIST: the first training labels and the test-set class sizes
    np.testing.assert_array_equal(tr.labels[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    np.testing.assert_array_equal(np.bincount(te.labels),
                                  [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    # the MNIST files are no Fashion-MNIST files: passed over, not mistaken or refused
    with pytest.raises(FileNotFoundError, match="fashion-mnist"):
        data.load("fashion-mnist", "test")
