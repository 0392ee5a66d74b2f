"""Token counting for context budgets.

Every chat request is measured before it is sent, so that a prompt that cannot fit the model's context is
refused with OpenAI's ``context_length_exceeded`` error instead of being truncated or failing upstream.

Counters (all satisfy :class:`TokenCounter`):

* :class:`GGUFTokenCounter` - the exact vocabulary of a GGUF file (the embedded engine's model), through
  llama.cpp's tokenizer loaded with ``vocab_only`` (about 0.4 s, once, on first use).
* :class:`HFTokenCounter` - a Hugging Face ``tokenizer.json`` (the ``tokenizers`` package).
* :class:`ApproxTokenCounter` - no tokenizer known: an estimate that errs towards more tokens.

Chat messages cost more than their content: the chat template wraps each one (Qwen's
``<|im_start|>user\\n ... <|im_end|>\\n`` is 5 tokens) and adds the assistant primer, and some templates add a
default system prompt when the request has none (Qwen's is 20 tokens). When the model's chat template is known
(GGUF metadata, ``tokenizer_config.json``) these overheads are measured once by rendering probe conversations;
otherwise ChatML's are assumed. Tool definitions sent with a request are not counted here.

Spec strings, as written in ``model_info.tokenizer`` of ``configs/models.yaml``: ``engine`` (the embedded
engine's GGUF), ``gguf:<path>``, ``hf:<path>`` (a tokenizer.json or the folder that holds one), ``approx``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from inference.errors import ContextLengthExceeded, ModelIntegrityError

if TYPE_CHECKING:
    from inference.catalog import ModelCatalog

Message = Mapping[str, Any]


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens the way one model's tokenizer and chat template do."""

    def count_text(self, text: str) -> int:
        """Tokens in ``text`` on its own (no BOS, special tokens recognised)."""
        ...

    def count_messages(self, messages: list[dict[str, Any]]) -> int:
        """Tokens of the prompt built from OpenAI-shaped chat ``messages``, assistant primer included."""
        ...


@dataclass(frozen=True)
class TemplateOverhead:
    """What a chat template adds around the messages' content, in tokens."""

    per_message: Mapping[str, int] = field(
        default_factory=lambda: {"system": 5, "user": 5, "assistant": 5, "tool": 9}
    )
    # the assistant primer, plus whatever the template adds around a leading system message's content
    base_with_system: int = 3
    # the same when the conversation does not start with a system message (some templates add a default one)
    base_without_system: int = 3

    def for_role(self, role: str) -> int:
        return self.per_message.get(role, max(self.per_message.values(), default=5))


# ChatML-style templates (Qwen, most instruct models): <|im_start|>role\n ... <|im_end|>\n and the primer
CHATML_OVERHEAD = TemplateOverhead()
# unknown tokenizer and template: also allow for a default system prompt of a Qwen-like size
APPROX_OVERHEAD = TemplateOverhead(
    per_message={"system": 6, "user": 6, "assistant": 6, "tool": 10},
    base_with_system=4,
    base_without_system=28,
)


def message_text(message: Message) -> str:
    """The text of one message as the template sees it: string content, text parts, tool calls, name."""
    pieces: list[str] = []
    content = message.get("content")
    if isinstance(content, str):
        pieces.append(content)
    elif isinstance(content, Sequence):
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                pieces.append(part["text"])
    tool_calls = message.get("tool_calls")
    if tool_calls:
        # templates write each call as JSON; the serialised call is an upper bound of what they render
        pieces.append(json.dumps(tool_calls, ensure_ascii=False))
    name = message.get("name")
    if isinstance(name, str):
        pieces.append(name)
    return "\n".join(pieces)


class _TemplatedCounter:
    """count_messages on top of count_text and a (lazily measured) template overhead."""

    def count_text(self, text: str) -> int:
        raise NotImplementedError

    def overhead(self) -> TemplateOverhead:
        return CHATML_OVERHEAD

    def count_messages(self, messages: list[dict[str, Any]]) -> int:
        overhead = self.overhead()
        starts_with_system = bool(messages) and messages[0].get("role") == "system"
        total = overhead.base_with_system if starts_with_system else overhead.base_without_system
        for message in messages:
            total += overhead.for_role(str(message.get("role", "user")))
            text = message_text(message)
            if text:
                total += self.count_text(text)
        return total


class GGUFTokenCounter(_TemplatedCounter):
    """Exact counts with the vocabulary and chat template of a GGUF file; loads on first use."""

    def __init__(self, gguf_path: Path) -> None:
        self.path = Path(gguf_path)
        self._lock = threading.Lock()
        self._tokenize: Callable[[bytes, bool, bool], list[int]] | None = None
        self._overhead: TemplateOverhead | None = None

    def _load(self) -> Callable[[bytes, bool, bool], list[int]]:
        with self._lock:
            if self._tokenize is not None:
                return self._tokenize
            import llama_cpp  # heavy (loads libllama); only when a GGUF counter is first used

            try:
                llama = llama_cpp.Llama(model_path=str(self.path), vocab_only=True, verbose=False)
            except (ValueError, OSError, RuntimeError) as exc:
                raise ModelIntegrityError(
                    f"cannot read the tokenizer of {self.path}: {exc}; is it a complete GGUF file?"
                ) from exc
            tokenize: Callable[[bytes, bool, bool], list[int]] = llama.tokenize
            template = llama.metadata.get("tokenizer.chat_template")
            overhead = CHATML_OVERHEAD
            if template:
                bos_id, eos_id = llama.token_bos(), llama.token_eos()
                bos = llama._model.token_get_text(bos_id) if bos_id != -1 else ""
                eos = llama._model.token_get_text(eos_id) if eos_id != -1 else ""

                def count(text: str) -> int:
                    return len(tokenize(text.encode("utf-8"), False, True))

                overhead = measure_overhead(_jinja_renderer(template, bos, eos), count)
                if llama.metadata.get("tokenizer.ggml.add_bos_token") == "true":
                    overhead = _plus_base(overhead, 1)
            self._overhead = overhead
            self._llama = llama  # keeps the vocabulary alive
            self._tokenize = tokenize
            return tokenize

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` (no BOS; special tokens such as ``<|im_end|>`` recognised)."""
        tokenize = self._tokenize or self._load()
        # llama_tokenize only reads the vocabulary, so concurrent calls need no lock
        return tokenize(text.encode("utf-8"), False, True)

    def count_text(self, text: str) -> int:
        if not text:
            return 0
        return len(self.tokenize(text))

    def overhead(self) -> TemplateOverhead:
        if self._overhead is None:
            self._load()
        assert self._overhead is not None
        return self._overhead


class HFTokenCounter(_TemplatedCounter):
    """Exact counts with a Hugging Face ``tokenizer.json``; the chat template comes from the
    ``tokenizer_config.json`` beside it when there is one (otherwise ChatML's overhead is assumed)."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        self.path = path / "tokenizer.json" if path.is_dir() else path
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._overhead: TemplateOverhead | None = None

    def _load(self) -> Any:
        with self._lock:
            if self._tokenizer is not None:
                return self._tokenizer
            from tokenizers import Tokenizer

            try:
                tokenizer = Tokenizer.from_file(str(self.path))
            except Exception as exc:  # tokenizers raises a bare Exception for unreadable files
                raise ModelIntegrityError(f"cannot read the tokenizer {self.path}: {exc}") from exc
            # a tokenizer.json may carry padding and truncation settings (sentence-transformers' do):
            # either would make every count wrong
            tokenizer.no_padding()
            tokenizer.no_truncation()
            overhead = CHATML_OVERHEAD
            config = _read_tokenizer_config(self.path.parent / "tokenizer_config.json")
            template = _chat_template(config)
            if template:

                def count(text: str) -> int:
                    return len(tokenizer.encode(text, add_special_tokens=False).ids)

                bos, eos = _token_text(config.get("bos_token")), _token_text(config.get("eos_token"))
                overhead = measure_overhead(_jinja_renderer(template, bos, eos), count)
            self._overhead = overhead
            self._tokenizer = tokenizer
            return tokenizer

    def count_text(self, text: str) -> int:
        if not text:
            return 0
        tokenizer = self._tokenizer or self._load()
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    def overhead(self) -> TemplateOverhead:
        if self._overhead is None:
            self._load()
        assert self._overhead is not None
        return self._overhead


class ApproxTokenCounter(_TemplatedCounter):
    """An estimate for models whose tokenizer is unknown, meant to over-count rather than under-count.

    Byte-level BPE vocabularies (GPT, Qwen, Llama 3) give English about 4-5 characters a token and
    Korean about 1-1.5 syllables (3 bytes each) a token, but split numbers into single digits. So: one token
    per digit, one per two other ASCII characters, one per two bytes of everything else.
    """

    def count_text(self, text: str) -> int:
        if not text:
            return 0
        n_bytes = len(text.encode("utf-8"))
        n_ascii = len(text.encode("ascii", "ignore"))
        digits = sum(text.count(digit) for digit in "0123456789")
        estimate = digits + (n_ascii - digits) / 2 + (n_bytes - n_ascii) / 2
        return math.ceil(max(estimate, n_bytes / 3, len(text) / 2))

    def overhead(self) -> TemplateOverhead:
        return APPROX_OVERHEAD


def make_token_counter(spec: str, engine_model_path: Path | None) -> TokenCounter:
    """Build the counter a deployment's ``tokenizer`` spec names; files are checked now, loaded lazily."""
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "approx" and not arg:
        return ApproxTokenCounter()
    if kind == "engine" and not arg:
        if engine_model_path is None:
            raise ModelIntegrityError(
                "tokenizer 'engine' needs the model of the embedded engine that serves the group, but no "
                "engine serves it here: enable the engine (HEARTH_ENGINE__ENABLED, engine.models) or give "
                "the deployment another tokenizer "
                "(gguf:<path>, hf:<path> or approx)"
            )
        return GGUFTokenCounter(engine_model_path)
    if kind == "gguf" and arg:
        path = Path(arg).expanduser()
        if not path.is_file():
            raise ModelIntegrityError(f"tokenizer {spec!r}: the GGUF file {path} does not exist")
        return GGUFTokenCounter(path)
    if kind == "hf" and arg:
        path = Path(arg).expanduser()
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            raise ModelIntegrityError(f"tokenizer {spec!r}: {file} does not exist")
        return HFTokenCounter(path)
    raise ModelIntegrityError(
        f"unknown tokenizer spec {spec!r}: use 'engine', 'gguf:<path>', 'hf:<path>' or 'approx'"
    )


def make_group_counters(catalog: ModelCatalog, engine_models: Mapping[str, Path]) -> dict[str, TokenCounter]:
    """A counter per model group, from its first deployment's ``tokenizer`` spec. ``engine`` means the GGUF of
    the embedded engine that serves the group (``engine_models``: GGUF path by served name), so the 1.5B and
    the 0.5B each count with their own vocabulary and chat template; for a group no engine serves (a remote
    deployment saying ``engine``), the only engine's, when just one runs."""
    only = next(iter(engine_models.values())) if len(engine_models) == 1 else None
    counters: dict[str, TokenCounter] = {}
    for group in catalog.groups:
        deployments = catalog.deployments_of(group)
        engine_model = next(
            (engine_models[d.upstream_model] for d in deployments if d.upstream_model in engine_models), only
        )
        counters[group] = make_token_counter(deployments[0].tokenizer, engine_model)
    return counters


def check_budget(prompt_tokens: int, max_tokens: int | None, context_window: int) -> None:
    """Raise ContextLengthExceeded when the prompt plus the requested completion cannot fit the context."""
    completion = max_tokens or 0
    requested = prompt_tokens + completion
    if prompt_tokens < context_window and requested <= context_window:
        return
    if completion:
        detail = (
            f"However, you requested {requested} tokens ({prompt_tokens} in the messages, "
            f"{completion} in the completion). Please reduce the length of the messages or completion."
        )
    else:
        detail = (
            f"However, your messages resulted in {prompt_tokens} tokens. Please reduce the length of the "
            f"messages."
        )
    raise ContextLengthExceeded(
        f"This model's maximum context length is {context_window} tokens. {detail}", param="messages"
    )


# --- measuring a chat template ------------------------------------------------------------------------------


def measure_overhead(
    render: Callable[[list[dict[str, Any]]], str], count: Callable[[str], int]
) -> TemplateOverhead:
    """Measure a chat template's per-message and fixed overheads by rendering empty probe conversations.

    ``render`` turns messages into the prompt text (generation prompt included); ``count`` tokenizes it.
    A probe the template rejects falls back to the largest overhead measured.
    """

    def tokens(*roles: str) -> int | None:
        try:
            return count(render([{"role": role, "content": ""} for role in roles]))
        except Exception:  # a template may raise_exception() on shapes it does not accept
            return None

    one_user = tokens("user")
    three_users = tokens("user", "user", "user")
    if one_user is None or three_users is None:
        return CHATML_OVERHEAD
    user = math.ceil((three_users - one_user) / 2)
    per_message = {"user": user}
    for role in ("assistant", "tool", "system"):
        with_role = tokens("user", role, "user")
        if with_role is not None:
            per_message[role] = max(with_role - one_user - user, 0)
    widest = max(per_message.values())
    for role in ("assistant", "tool", "system"):
        per_message.setdefault(role, widest)
    base_without_system = max(one_user - user, 0)
    with_system = tokens("system", "user")
    if with_system is None:
        base_with_system = base_without_system
    else:
        # a leading system message may be rendered differently from a later one (Qwen puts it in the header)
        base_with_system = max(with_system - user - per_message["system"], 0)
    return TemplateOverhead(per_message, base_with_system, base_without_system)


def _plus_base(overhead: TemplateOverhead, extra: int) -> TemplateOverhead:
    return TemplateOverhead(
        overhead.per_message, overhead.base_with_system + extra, overhead.base_without_system + extra
    )


def _jinja_renderer(template: str, bos: str, eos: str) -> Callable[[list[dict[str, Any]]], str]:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)

    def render(messages: list[dict[str, Any]]) -> str:
        return formatter(messages=messages).prompt  # type: ignore[arg-type]

    return render


def _read_tokenizer_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _chat_template(config: Mapping[str, Any]) -> str | None:
    template = config.get("chat_template")
    if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
        named = {item.get("name"): item.get("template") for item in template if isinstance(item, Mapping)}
        template = named.get("default") or next(iter(named.values()), None)
    return template if isinstance(template, str) and template else None


def _token_text(token: Any) -> str:
    if isinstance(token, Mapping):  # {"content": "<s>", "__type": "AddedToken", ...}
        token = token.get("content")
    return token if isinstance(token, str) else ""
