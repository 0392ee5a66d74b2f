"""LangChain's ChatOpenAI and LlamaIndex's OpenAILike, unmodified, pointed at a real Hearth: a plain call and
a streamed one each, with the token usage the clients report.

Neither may fetch tiktoken's BPE files (there is no network here, and a client that needs them to talk to an
OpenAI-compatible server is misconfigured): a guard turns any such download into a test failure.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai_like import OpenAILike

from tests.support import ServerProcess

CHAT_MODEL = "qwen2.5-coder-1.5b-instruct"  # what Hearth answers for the `default` alias (test profile)
# Deterministic requests (temperature 0) are answered from Hearth's response cache, which lives in Redis and
# outlives a test run, and a cached answer streams as one chunk. A seed of this run's own keeps every request
# a real generation (at temperature 0 the seed changes nothing else).
SEED = random.randrange(1, 2**31)


@pytest.fixture(autouse=True, scope="module")
def no_tiktoken_downloads() -> Iterator[None]:
    import tiktoken.load

    read_file = tiktoken.load.read_file

    def local_only(blobpath: str) -> bytes:
        if "://" in blobpath:
            raise AssertionError(f"a client tried to download {blobpath}")
        return read_file(blobpath)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiktoken.load, "read_file", local_only)
        yield


def langchain_chat(hearth: ServerProcess, **kwargs: object) -> ChatOpenAI:
    return ChatOpenAI(
        model="default",
        base_url=hearth.v1,
        api_key=hearth.api_key,  # type: ignore[arg-type]
        temperature=0,
        seed=SEED,
        max_tokens=32,  # type: ignore[call-arg]
        max_retries=0,
        timeout=300,
        **kwargs,  # type: ignore[arg-type]
    )


def llamaindex_llm(hearth: ServerProcess, *, stream_usage: bool = False) -> OpenAILike:
    extra: dict[str, object] = {"seed": SEED}
    if stream_usage:  # the usage chunk at the end of a stream
        extra["stream_options"] = {"include_usage": True}
    return OpenAILike(
        model="default",
        api_base=hearth.v1,
        api_key=hearth.api_key,
        is_chat_model=True,
        context_window=4096,
        temperature=0,
        max_tokens=32,
        max_retries=0,
        timeout=300,
        additional_kwargs=extra,
    )


def test_langchain_chat_openai(hearth_plain: ServerProcess) -> None:
    reply = langchain_chat(hearth_plain).invoke("Name three primary colors, comma-separated.")
    assert isinstance(reply.content, str) and reply.content.strip()
    assert reply.response_metadata["model_name"] == CHAT_MODEL
    assert reply.response_metadata["finish_reason"] in ("stop", "length")
    usage = reply.usage_metadata
    assert usage is not None and usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    # stream_usage asks for the usage chunk at the end (stream_options.include_usage)
    chunks = list(
        langchain_chat(hearth_plain, stream_usage=True).stream("List the first five prime numbers.")
    )
    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    assert sum(1 for chunk in chunks if chunk.content) > 2, "the answer arrives in pieces"
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert isinstance(total.content, str) and "2" in total.content and "3" in total.content, total.content
    assert total.response_metadata["finish_reason"] in ("stop", "length")
    assert total.usage_metadata is not None
    assert total.usage_metadata["input_tokens"] > 0 and total.usage_metadata["output_tokens"] > 0


def test_langchain_asks_an_assistant(hearth_plain: ServerProcess) -> None:
    """A RAG assistant is one more model: its answer ends with the sources list."""
    rag = ChatOpenAI(
        model="assistant/manual-qa",
        base_url=hearth_plain.v1,
        api_key=hearth_plain.api_key,  # type: ignore[arg-type]
        max_retries=0,
        timeout=300,
    )
    reply = rag.invoke("How many paid sick days do I get per year?")
    assert isinstance(reply.content, str)
    assert "\n\nSources:\n[1] manual-" in reply.content, reply.content
    assert reply.response_metadata["model_name"] == "assistant/manual-qa"


def test_llamaindex_openai_like(hearth_plain: ServerProcess) -> None:
    llm = llamaindex_llm(hearth_plain)
    reply = llm.chat([ChatMessage(role="user", content="Name three primary colors, one per line.")])
    assert reply.message.content and reply.message.content.strip()
    assert reply.raw is not None and reply.raw.model == CHAT_MODEL
    usage = reply.additional_kwargs
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    completion = llm.complete("The capital of France is")
    assert "Paris" in completion.text, completion.text

    streaming = llamaindex_llm(hearth_plain, stream_usage=True)
    chunks = list(
        streaming.stream_chat([ChatMessage(role="user", content="List the first four even numbers.")])
    )
    assert sum(1 for chunk in chunks if chunk.delta) > 2, "the answer arrives in pieces"
    text = chunks[-1].message.content or ""
    assert text == "".join(chunk.delta or "" for chunk in chunks)
    assert "2" in text and "4" in text, text
    # the last chunk carries the usage Hearth sent after the answer
    assert chunks[-1].additional_kwargs["prompt_tokens"] > 0
    assert chunks[-1].additional_kwargs["completion_tokens"] > 0
