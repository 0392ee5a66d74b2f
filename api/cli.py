"""The ``hearth`` command line. Every command exits non-zero with a one-line reason on failure."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from configs.settings import Settings, load_settings

if TYPE_CHECKING:
    from inference.model_store import BundledModel

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Hearth: self-hosted AI services.")
keys_app = typer.Typer(no_args_is_help=True, help="Manage API keys (stored hashed in the database).")
models_app = typer.Typer(no_args_is_help=True, help="Manage the local model files.")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")

F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(func: F) -> F:
    """Turn any failure into ``error: <reason>`` on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as exc:
            reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            typer.echo(f"error: {' '.join(str(reason).split())}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _settings(**overrides: Any) -> Settings:
    return load_settings(**{k: v for k, v in overrides.items() if v})


@app.command()
@one_line_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default from settings: 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default from settings: 8000)")] = None,
) -> None:
    """Serve the API (and supervise the embedded engine when the profile has one)."""
    import uvicorn

    from api.app import create_app

    server: dict[str, Any] = {}
    if host:
        server["host"] = host
    if port:
        server["port"] = port
    settings = _settings(server=server)
    uvicorn.run(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=15,
    )


@app.command()
@one_line_errors
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (PDF, TXT, Markdown, HTML, DOCX)")],
    collection: Annotated[str, typer.Option(help="Collection to add to (created when missing)")],
    url: Annotated[str | None, typer.Option(help="Server URL (default: from settings or HEARTH_URL)")] = None,
    key: Annotated[
        str | None, typer.Option(help="API key (default: HEARTH_API_KEY or data/dev-api-key)")
    ] = None,
) -> None:
    """Upload documents into a collection of the running server, with a progress bar and a summary."""
    import httpx
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from api.client_cli import CliError, api_key, expand, server_url
    from api.client_cli import ingest as run_ingest

    settings = _settings()
    selection = expand(paths)
    files = selection.files
    if selection.skipped:
        shown = ", ".join(f"{path} ({why})" for path, why in selection.skipped[:5])
        more = f" and {len(selection.skipped) - 5} more" if len(selection.skipped) > 5 else ""
        typer.echo(f"skipped {shown}{more}", err=True)
    headers = {"authorization": f"Bearer {api_key(settings, key)}"}
    with httpx.Client(base_url=server_url(settings, url), headers=headers, timeout=600) as client:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not sys.stderr.isatty(),
        ) as progress:
            task = progress.add_task(f"ingesting into {collection}", total=len(files))
            try:
                summary = run_ingest(client, collection, files, lambda: progress.advance(task))
            except httpx.HTTPError as exc:
                raise CliError(f"the server does not answer ({exc}): is `hearth serve` running?") from exc
    typer.echo(
        f"{summary.indexed} indexed, {summary.duplicates} already there, {len(summary.failed)} failed; "
        f"{summary.chunks} chunks from {summary.pages} pages in {summary.seconds:.1f}s"
    )
    for path, reason in summary.failed:
        typer.echo(f"  failed: {path}: {reason}", err=True)
    if summary.failed:
        raise typer.Exit(1)


@app.command()
@one_line_errors
def ask(
    question: Annotated[str, typer.Argument(help="The question")],
    collection: Annotated[str | None, typer.Option(help="Collection to answer from")] = None,
    assistant: Annotated[str | None, typer.Option(help="Ask an assistant instead (e.g. tax-kr)")] = None,
    session: Annotated[str | None, typer.Option(help="Continue a conversation")] = None,
    url: Annotated[str | None, typer.Option(help="Server URL")] = None,
    key: Annotated[str | None, typer.Option(help="API key")] = None,
) -> None:
    """Ask a question; prints the answer and its citations."""
    import httpx

    from api.client_cli import CliError, api_key, print_answer, server_url

    if not collection and not assistant:
        raise CliError("give --collection NAME or --assistant NAME")
    settings = _settings()
    body: dict[str, Any] = {"question": question}
    if session:
        body["session_id"] = session
    path = f"/v1/assistants/{assistant}/ask" if assistant else f"/v1/collections/{collection}/query"
    headers = {"authorization": f"Bearer {api_key(settings, key)}"}
    try:
        response = httpx.post(server_url(settings, url) + path, json=body, headers=headers, timeout=600)
    except httpx.HTTPError as exc:
        raise CliError(f"the server does not answer ({exc}): is `hearth serve` running?") from exc
    if response.status_code != 200:
        raise CliError(response.json().get("error", {}).get("message", response.text))
    print_answer(response.json())


@app.command("eval")
@one_line_errors
def evaluate(
    questions: Annotated[Path, typer.Argument(help="Question file (JSONL; format in the README)")],
    collection: Annotated[str | None, typer.Option(help="Ask this collection")] = None,
    assistant: Annotated[str | None, typer.Option(help="Ask this assistant instead (e.g. tax-kr)")] = None,
    top_k: Annotated[
        int | None,
        typer.Option(
            min=1, max=20, help="Passages per query (collections); hit@k counts this many citations"
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the figures and every answer as JSON here")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Questions in flight at once")] = 1,
    url: Annotated[str | None, typer.Option(help="Server URL (default: from settings or HEARTH_URL)")] = None,
    key: Annotated[
        str | None, typer.Option(help="API key (default: HEARTH_API_KEY or data/dev-api-key)")
    ] = None,
) -> None:
    """Evaluate answers through the running server: hit@k, facts, refusals, leaks, numbers, latency."""
    from api.client_cli import CliError, api_key, server_url
    from indexing.evaluation.dataset import load_questions
    from indexing.evaluation.report import build_report, render_table
    from indexing.evaluation.runner import Target, evaluate_at

    if bool(collection) == bool(assistant):
        raise CliError("give either --collection NAME or --assistant NAME")
    target = Target("assistant", assistant) if assistant else Target("collection", str(collection))
    items = load_questions(questions)
    settings = _settings()
    base = server_url(settings, url)
    progress = _progress_bar()
    # only on a terminal: a disabled Progress still writes a blank line to stderr when it stops
    with progress if sys.stderr.isatty() else contextlib.nullcontext(progress):
        task = progress.add_task(f"asking {target.kind} {target.name}", total=len(items))
        scores = asyncio.run(
            evaluate_at(
                base,
                api_key(settings, key),
                target,
                items,
                top_k=top_k,
                concurrency=concurrency,
                on_result=lambda _: progress.advance(task),
            )
        )
    report = build_report(scores, questions_file=questions, target=target, url=base, top_k=top_k)
    render_table(report, Console())
    if out:
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    failed = [score for score in scores if not score.ok]
    if failed:
        first = failed[0]
        raise CliError(
            f"{len(failed)} of {len(scores)} questions failed ({first.question.id}: {first.reply.error})"
        )


def _progress_bar() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


@app.command()
@one_line_errors
def summarize(
    file: Annotated[Path, typer.Argument(help="The PDF (or TXT, Markdown, HTML, DOCX) to summarise")],
    language: Annotated[
        str | None, typer.Option(help="Summary language: auto (the document's), ko, en, ...")
    ] = None,
    max_words: Annotated[int | None, typer.Option(help="Length of the summary (default 250)")] = None,
    url: Annotated[str | None, typer.Option(help="Server URL")] = None,
    key: Annotated[str | None, typer.Option(help="API key")] = None,
) -> None:
    """Summarise a document on the running server and print the summary JSON."""
    import contextlib
    import json

    import httpx
    from rich.progress import Progress, SpinnerColumn, TimeElapsedColumn

    from api.client_cli import CliError, api_key, error_message, server_url

    if not file.is_file():
        raise CliError(f"{file} does not exist or is not a file")
    settings = _settings()
    form = {k: str(v) for k, v in {"language": language, "max_words": max_words}.items() if v}
    headers = {"authorization": f"Bearer {api_key(settings, key)}"}
    spinner = Progress(
        SpinnerColumn(),
        "[progress.description]{task.description}",
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    # only on a terminal: a disabled Progress still writes a blank line to stderr when it stops
    with spinner if sys.stderr.isatty() else contextlib.nullcontext(spinner) as progress:
        progress.add_task(f"summarising {file.name}", total=None)
        try:
            with file.open("rb") as handle:
                response = httpx.post(
                    server_url(settings, url) + "/v1/summaries",
                    files={"file": (file.name, handle)},
                    data=form,
                    headers=headers,
                    timeout=httpx.Timeout(3600, connect=10),  # a long document takes minutes on a CPU
                )
        except httpx.HTTPError as exc:
            raise CliError(f"the server does not answer ({exc}): is `hearth serve` running?") from exc
    if response.status_code != 200:
        raise CliError(error_message(response))
    typer.echo(json.dumps(response.json(), ensure_ascii=False, indent=2))


@app.command()
@one_line_errors
def report(
    ticker: Annotated[str, typer.Argument(help="Ticker symbol, e.g. AAPL, SPY, 005930.KS")],
    period: Annotated[
        str | None, typer.Option(help="Data window: 1mo, 3mo, 6mo, 1y, 2y, 5y, ytd, max (default 1y)")
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(help="ko or en (default: Korean for .KS/.KQ tickers, English for the rest)"),
    ] = None,
    url: Annotated[str | None, typer.Option(help="Server URL")] = None,
    key: Annotated[str | None, typer.Option(help="API key")] = None,
) -> None:
    """Write a stock or ETF report on the running server and print its Markdown."""
    import httpx

    from api.client_cli import CliError, api_key, error_message, server_url

    settings = _settings()
    body: dict[str, Any] = {"ticker": ticker}
    if period:
        body["period"] = period
    if language:
        body["language"] = language
    headers = {"authorization": f"Bearer {api_key(settings, key)}"}
    try:
        response = httpx.post(
            server_url(settings, url) + "/v1/reports/stocks", json=body, headers=headers, timeout=600
        )
    except httpx.HTTPError as exc:
        raise CliError(f"the server does not answer ({exc}): is `hearth serve` running?") from exc
    if response.status_code != 200:
        raise CliError(error_message(response))
    typer.echo(response.json()["markdown"], nl=False)


@models_app.command("prepare")
@one_line_errors
def models_prepare() -> None:
    """Assemble and verify the engines' bundled models into HEARTH_DATA_DIR/models (idempotent)."""
    from inference.model_store import bundled_model, resolve_model_path

    settings = _settings()
    for engine in settings.engine.engines():
        bundled = bundled_model(engine.model or "")
        if bundled is None:
            typer.echo(
                f"model {engine.served_name}: {resolve_model_path(engine.model or '', settings.models_dir)}"
            )
            continue
        path = _assemble_with_progress(bundled, settings.models_dir)
        typer.echo(f"model {engine.served_name} ready: {path}")


def _assemble_with_progress(bundled: BundledModel, models_dir: Path) -> Path:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from inference.model_store import ensure_bundled_model

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not sys.stderr.isatty(),
    ) as progress:
        task = progress.add_task(f"assembling {bundled.name}", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return ensure_bundled_model(bundled, models_dir, progress=report)


@keys_app.command("create")
@one_line_errors
def keys_create(
    name: Annotated[str, typer.Option(help="A name for the key (shown in logs and usage)")],
    admin: Annotated[bool, typer.Option(help="May call the admin endpoints")] = False,
    tenant: Annotated[str | None, typer.Option(help="Share a tenant with other keys")] = None,
) -> None:
    """Create an API key. The key is printed once; only its hash is stored."""
    store = _key_store(_settings())
    plaintext, record = store.create(name, tenant=tenant, role="admin" if admin else "user")
    typer.echo(plaintext)
    typer.echo(
        f"created key '{record.name}' (id {record.id}, tenant {record.tenant}, role {record.role}); "
        "it is shown only once",
        err=True,
    )


@keys_app.command("list")
@one_line_errors
def keys_list() -> None:
    """List API keys (never the keys themselves)."""
    for record in _key_store(_settings()).list():
        state = "revoked" if record.revoked_at else "active"
        typer.echo(
            f"{record.id}  {record.name:<20} {record.prefix}...  {record.role:<5} {record.tenant}  {state}"
        )


@keys_app.command("revoke")
@one_line_errors
def keys_revoke(key: Annotated[str, typer.Argument(help="Key id or name")]) -> None:
    """Revoke an API key."""
    _key_store(_settings()).revoke(key)
    typer.echo(f"revoked {key}")


def _key_store(settings: Settings) -> Any:
    from storage.db import make_engine, make_session_factory, migrate
    from storage.keys import ApiKeyStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    migrate(engine)
    return ApiKeyStore(make_session_factory(engine))


@app.command()
@one_line_errors
def worker(
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues (default: reports,summaries)")
    ] = None,
    burst: Annotated[bool, typer.Option(help="Exit once the queues are empty")] = False,
    name: Annotated[str | None, typer.Option(help="Worker name (default: RQ's)")] = None,
) -> None:
    """Run background jobs (summary batches, scheduled reports) from Redis until SIGTERM."""
    from api.container import build_container
    from api.logs import configure_logging
    from workers.worker import run_worker

    settings = _settings()
    configure_logging(settings.server.log_level, settings.server.log_json)
    chosen = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    run_worker(
        lambda: build_container(settings, role="worker"),
        settings.workers,
        queues=chosen,
        burst=burst,
        name=name,
        connect=lambda container: container.redis.make_sync_client(),  # type: ignore[attr-defined]
    )


@app.command()
@one_line_errors
def scheduler(
    show: Annotated[
        bool, typer.Option("--show", help="List the schedules with their next run, then exit")
    ] = False,
) -> None:
    """Run the schedules in configs/schedules.yaml (by default the watchlist reports at 00:10 Asia/Seoul)."""
    import signal
    import threading
    from datetime import UTC, datetime

    from api.logs import configure_logging
    from storage.redis_service import RedisService
    from workers.queues import JobQueue
    from workers.scheduler import Scheduler
    from workers.schedules import load_schedules

    settings = _settings()
    schedules = load_schedules(settings.schedules_path)
    if show:
        now = datetime.now(UTC)
        for item in schedules:
            due = item.next_run(now)
            tickers = ", ".join(item.watchlist.tickers) or "-"
            typer.echo(
                f"{item.name}: {item.task} '{item.cron}' ({item.timezone}) next run "
                f"{due.isoformat()} = {due.astimezone(UTC).isoformat()} UTC; tickers: {tickers}"
            )
        return
    configure_logging(settings.server.log_level, settings.server.log_json)
    loop = asyncio.new_event_loop()
    redis_service = RedisService(settings.redis, settings.data_dir)
    loop.run_until_complete(redis_service.start())
    connection = redis_service.make_sync_client()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        Scheduler(schedules, JobQueue(connection, settings.workers), poll_s=settings.scheduler.poll_s).run(
            stop
        )
    finally:
        connection.close()
        loop.run_until_complete(redis_service.stop())
        loop.close()


@app.command()
@one_line_errors
def doctor() -> None:
    """Check every configured backend and say what is wrong."""
    from api.doctor import run_checks

    results = asyncio.run(run_checks(_settings()))
    failed = 0
    for check in results:
        mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[check.status]
        typer.echo(f"[{mark}] {check.name}: {check.detail}")
        failed += check.status == "fail"
    if failed:
        typer.echo(f"error: {failed} check(s) failed", err=True)
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
