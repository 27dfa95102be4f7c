"""CIFAR-10's binary distribution: parsed from bytes, verified, found or downloaded.

Every test writes its own small files in the official layout (3073-byte records: a label
byte, then the red, green and blue 32x32 planes, row by row), so nothing here needs the
real 162 MB archive; the expected images come from the arrays the files were made from.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from npae import data


def md5(raw: bytes) -> str:
    return hashlib.md5(raw).hexdigest()


def batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, bytes]:
    """``n`` random images and labels, and the file bytes written record by record."""
    g = np.random.default_rng(seed)
    images = g.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = g.integers(0, 10, n, dtype=np.uint8)
    raw = b"".join(bytes([int(lab)]) + img[0].tobytes() + img[1].tobytes() + img[2].tobytes()
                   for img, lab in zip(images, labels))
    return images, labels, raw


def archive(files: dict[str, bytes]) -> bytes:
    """A .tar.gz holding ``files`` under ``cifar-10-batches-bin/``, as the real one does."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
        readme = tarfile.TarInfo("cifar-10-batches-bin/batches.meta.txt")
        readme.size = 8
        tar.addfile(readme, io.BytesIO(b"airplane"))
    return buf.getvalue()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("NPAE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("NPAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NPAE_OFFLINE", "1")
    data.clear_cache()
    yield
    data.clear_cache()


def six_batches(sizes=(3, 2, 4, 1, 2, 5)):
    names = [*data.CIFAR10_FILES["train"], *data.CIFAR10_FILES["test"]]
    return {name: batch(n, seed) for seed, (name, n) in enumerate(zip(names, sizes))}


def test_parse_reads_labels_and_rgb_planes():
    images, labels, raw = batch(4, 0)
    got_images, got_labels = data.parse_cifar_batch(raw)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    # one byte checked by hand: image 2, green plane (1024 bytes in), row 5, column 7
    assert got_images[2, 1, 5, 7] == raw[2 * 3073 + 1 + 1024 + 5 * 32 + 7]


def test_extracted_test_batch_with_its_checksum(tmp_path):
    images, labels, raw = batch(7, 1)
    folder = tmp_path / "data" / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    (folder / "test_batch.bin").write_bytes(raw)
    ds = data.load("cifar10", "test", checksums={"test_batch.bin": md5(raw)})
    assert ds.images.dtype == np.float32 and ds.images.shape == (7, 3, 32, 32)
    np.testing.assert_array_equal(ds.images, images.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(ds.labels, labels.astype(np.int64))
    assert ds.labels.dtype == np.int64


def test_archive_gives_the_five_training_batches_in_order(tmp_path):
    batches = six_batches()
    blob = archive({name: raw for name, (_, _, raw) in batches.items()})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cifar-10-binary.tar.gz").write_bytes(blob)
    table = {"cifar-10-binary.tar.gz": md5(blob)}
    train = data.load("cifar10", "train", checksums=table)
    expected = np.concatenate([batches[f][0] for f in data.CIFAR10_FILES["train"]])
    assert train.images.shape == (12, 3, 32, 32)
    np.testing.assert_array_equal(train.images * 255, expected.astype(np.float32))
    test = data.load("cifar10", "test", checksums=table)
    np.testing.assert_array_equal(test.labels, batches["test_batch.bin"][1])
    # validation and limit work as for every dataset
    val = data.load("cifar10", "val", validation=3, checksums=table)
    rest = data.load("cifar10", "train", validation=3, checksums=table)
    assert len(val.labels) == 3 and len(rest.labels) == 9


def test_bad_checksum_is_refused(tmp_path):
    _, _, raw = batch(3, 2)
    folder = tmp_path / "data" / "cifar10"
    folder.mkdir(parents=True)
    (folder / "test_batch.bin").write_bytes(raw)
    with pytest.raises(ValueError, match=r"checksum mismatch for .*test_batch\.bin: MD5 "
                                         rf"{md5(raw)}, expected 0{{32}}"):
        data.load("cifar10", "test", checksums={"test_batch.bin": "0" * 32})
    blob = archive({"test_batch.bin": raw})
    (folder / "test_batch.bin").unlink()
    (folder / "cifar-10-binary.tar.gz").write_bytes(blob)
    # the published checksum of the real archive: a home-made one is refused
    with pytest.raises(ValueError, match=r"checksum mismatch for .*cifar-10-binary\.tar\.gz"):
        data.load("cifar10", "test")


def test_truncated_files_are_refused(tmp_path):
    _, _, raw = batch(3, 3)
    folder = tmp_path / "data" / "cifar10"
    folder.mkdir(parents=True)
    (folder / "test_batch.bin").write_bytes(raw[:-100])
    with pytest.raises(ValueError, match=r"test_batch\.bin is truncated or not a CIFAR-10 "
                                         r"batch: 9119 bytes is not a whole number of "
                                         r"3073-byte records"):
        data.load("cifar10", "test")
    (folder / "test_batch.bin").unlink()
    blob = archive({"test_batch.bin": raw})
    (folder / "cifar-10-binary.tar.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"cifar-10-binary\.tar\.gz is not a complete tar "
                                         r"archive .* truncated or corrupt"):
        data.load("cifar10", "test", checksums={})


def test_foreign_bytes_and_short_official_batches_are_refused(tmp_path):
    _, _, raw = batch(2, 4)
    bad = bytearray(raw)
    bad[3073] = 12  # the second record's label
    with pytest.raises(ValueError, match=r"not a CIFAR-10 batch: record 1 has label 12"):
        data.parse_cifar_batch(bytes(bad), source="x.bin")
    with pytest.raises(ValueError, match=r"0 bytes is not a whole number"):
        data.parse_cifar_batch(b"")
    with pytest.raises(TypeError, match=r"parse_cifar_batch: data must be bytes, got str"):
        data.parse_cifar_batch("abc")
    folder = tmp_path / "data" / "cifar10"
    folder.mkdir(parents=True)
    (folder / "test_batch.bin").write_bytes(raw)
    # without a table of its own, the official layout is required: 10000 images a file
    with pytest.raises(ValueError, match=r"\['test_batch\.bin'\] do not hold 10000 images"):
        data.load("cifar10", "test")


def test_offline_and_absent_says_where_to_put_the_archive(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        data.load("cifar10", "test")
    msg = str(info.value)
    assert "NPAE_OFFLINE" in msg and "cifar-10-binary.tar.gz" in msg
    assert str(tmp_path / "data" / "cifar10") in msg and str(tmp_path / "cache") in msg


def test_download_is_verified_then_kept_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("NPAE_OFFLINE")
    batches = six_batches()
    blob = archive({name: raw for name, (_, _, raw) in batches.items()})
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "cifar-10-binary.tar.gz").write_bytes(blob)
    url = mirror.as_uri() + "/"
    # a wrong checksum: refused, and nothing is left in the cache
    with pytest.raises(FileNotFoundError, match=r"(?s)download failed .*checksum mismatch"):
        data.load("cifar10", "test", mirrors=[url], checksums={"cifar-10-binary.tar.gz":
                                                               "f" * 32})
    cache = tmp_path / "cache" / "cifar10"
    assert os.listdir(cache) == []
    table = {"cifar-10-binary.tar.gz": md5(blob)}
    ds = data.load("cifar10", "test", mirrors=[url], checksums=table)
    np.testing.assert_array_equal(ds.labels, batches["test_batch.bin"][1])
    assert (cache / "cifar-10-binary.tar.gz").read_bytes() == blob
    # found in the cache now: the mirror is not needed again
    (mirror / "cifar-10-binary.tar.gz").unlink()
    data.clear_cache()
    again = data.load("cifar10", "test", mirrors=[url], checksums=table)
    np.testing.assert_array_equal(again.images, ds.images)


def test_real_cifar10_when_present(monkeypatch):
    """The published files, where a machine has them (skipped elsewhere): the isolation
    fixture hides $NPAE_DATA, so the real folder is named by NPAE_REAL_DATA."""
    env = os.environ.get("NPAE_REAL_DATA")
    if not env or not (Path(env) / "cifar10").is_dir():
        pytest.skip("set NPAE_REAL_DATA to a folder holding cifar10/ to check the real files")
    monkeypatch.setenv("NPAE_DATA", env)
    test = data.load("cifar10", "test")
    assert test.images.shape == (10000, 3, 32, 32)
    assert np.bincount(test.labels).tolist() == [1000] * 10  # balanced, as published
