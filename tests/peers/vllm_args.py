"""The vLLM server arguments the peer tests prove and compose.gpu.yml uses (tests/deploy checks that they
agree): the served model name Hearth's deployments address, and the context length."""

from __future__ import annotations

SERVED_NAME = "qwen2.5-coder-0.5b-instruct"
MAX_MODEL_LEN = 8192


def shared_args() -> list[str]:
    """The arguments compose.gpu.yml passes too; the tests add the model path, the port and CPU-only ones."""
    return ["--served-model-name", SERVED_NAME, "--max-model-len", str(MAX_MODEL_LEN)]
