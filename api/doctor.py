"""``hearth doctor``: check every configured backend and say what is wrong, in plain words."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
from dataclasses import dataclass
from typing import Literal

import httpx

from configs.settings import Settings

Status = Literal["ok", "warn", "fail"]


@dataclass
class Check:
    name: str
    status: Status
    detail: str


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


async def run_checks(settings: Settings) -> list[Check]:
    checks = [
        Check(
            "settings",
            "ok",
            f"profiles {settings.profiles or ['embedded']}, data dir {settings.data_dir.resolve()}",
        )
    ]
    checks.extend(await asyncio.to_thread(_check_models, settings))
    checks.append(await asyncio.to_thread(_check_database, settings))
    checks.append(await _check_redis(settings))
    checks.extend(await _check_deployments(settings))
    checks.extend(await asyncio.to_thread(_check_embedders, settings))
    return checks


def _check_models(settings: Settings) -> list[Check]:
    """Each embedded engine's model file: there, a GGUF, and (bundled) joined and verified."""
    if not settings.engine.enabled:
        return [Check("engine", "ok", "disabled in this profile (an external model server is used)")]
    if importlib.util.find_spec("llama_cpp") is None:
        return [Check("engine", "fail", "llama-cpp-python is not installed: run `make setup`")]
    from inference.model_store import resolve_model_path

    checks = []
    for engine in settings.engine.engines():
        name = f"engine model {engine.served_name}"
        try:
            path = resolve_model_path(engine.model or "", settings.models_dir)
        except Exception as exc:
            checks.append(Check(name, "fail", str(exc)))
            continue
        size = f"{path.stat().st_size / 1e6:.0f} MB"
        checks.append(Check(name, "ok", f"{path} ({size}, verified), port {engine.port}"))
    if not settings.engine.large:
        checks.append(Check("engine large models", "ok", "left out (engine.large is false)"))
    return checks


def _check_database(settings: Settings) -> Check:
    from storage.db import make_engine, ping

    url = settings.database_url
    shown = url.split("@")[-1] if "@" in url else url
    try:
        engine = make_engine(url)
        try:
            ping(engine)
        finally:
            engine.dispose()
    except Exception as exc:
        return Check("database", "fail", f"{shown}: {exc} (set HEARTH_DATABASE__URL)")
    return Check("database", "ok", shown)


async def _check_redis(settings: Settings) -> Check:
    import redis.asyncio as aioredis

    client = aioredis.from_url(settings.redis.url, socket_connect_timeout=settings.redis.connect_timeout_s)
    try:
        await client.ping()
        return Check("redis", "ok", settings.redis.url)
    except Exception as exc:
        if settings.redis.embedded_fallback:
            return Check(
                "redis",
                "warn",
                f"{settings.redis.url} does not answer ({exc}); `hearth serve` will "
                "start the embedded redis-server under the data dir",
            )
        return Check("redis", "fail", f"{settings.redis.url} does not answer: {exc} (set HEARTH_REDIS__URL)")
    finally:
        await client.aclose()


async def _check_deployments(settings: Settings) -> list[Check]:
    from inference.catalog import load_catalog

    engines = {one.served_name: one for one in settings.engine.engines()} if settings.engine.enabled else {}
    try:
        catalog = load_catalog(
            settings.models_path,
            profiles=settings.profiles,
            engine_urls={name: one.url for name, one in engines.items()},
            engine_context=settings.engine.n_ctx,
        )
    except Exception as exc:
        return [Check("models.yaml", "fail", str(exc))]
    aliases = ", ".join(f"{alias} → {group}" for alias, group in catalog.aliases.items())
    results = [
        Check(
            "models.yaml",
            "ok",
            f"{len(catalog.deployments)} deployment(s), groups {catalog.groups}, aliases {aliases or 'none'}",
        )
    ]
    async with httpx.AsyncClient(timeout=3) as http:
        for deployment in catalog.deployments:
            name = f"deployment {deployment.model_name} → {deployment.api_base}"
            if deployment.embedded:
                engine = engines[deployment.upstream_model]
                if _port_open(engine.host, engine.port):
                    results.append(
                        Check(
                            name,
                            "warn",
                            f"port {engine.port} is already in use: `hearth serve` needs it for the "
                            f"{engine.served_name} engine (set HEARTH_ENGINE__PORT)",
                        )
                    )
                else:
                    results.append(Check(name, "ok", "embedded engine, started by `hearth serve`"))
                continue
            try:
                response = await http.get(
                    f"{deployment.api_base}/models",
                    headers={"authorization": f"Bearer {deployment.api_key or ''}"},
                )
                status: Status = "ok" if response.status_code < 400 else "fail"
                results.append(Check(name, status, f"HTTP {response.status_code}"))
            except httpx.HTTPError as exc:
                results.append(Check(name, "fail", f"unreachable: {type(exc).__name__} {exc}"))
    return results


def _check_embedders(settings: Settings) -> list[Check]:
    from indexing.embedding_service import EmbeddingService

    service = EmbeddingService(settings.embeddings, environ=os.environ)
    results = []
    try:
        for name in service.names():
            try:
                embedder = service.get(name)
                embedder.load()
                results.append(Check(f"embedder {name}", "ok", f"{embedder.dimensions} dimensions"))
            except Exception as exc:
                results.append(Check(f"embedder {name}", "fail", str(exc)))
    finally:
        service.close()
    return results
