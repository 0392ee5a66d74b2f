"""compose.gpu.yml runs vLLM with the arguments tests/peers proves on the real vLLM server (CPU build), plus
the GPU-only ones; the vllm and gpu profiles' deployments say the same context."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.peers.vllm_args import MAX_MODEL_LEN, SERVED_NAME, shared_args

ROOT = Path(__file__).resolve().parents[2]


def test_compose_gpu_passes_the_arguments_the_peer_tests_prove() -> None:
    vllm = yaml.safe_load((ROOT / "compose.gpu.yml").read_text())["services"]["vllm"]
    args = [str(a) for a in vllm["command"]]
    proven = shared_args()
    for flag, value in zip(proven[::2], proven[1::2], strict=True):
        assert flag in args, flag
        assert args[args.index(flag) + 1] == value, (flag, args)


def test_vllm_deployments_address_the_served_name_with_its_context() -> None:
    """The 0.5B's deployments (VLLM_API_BASE) address the name the peer tests serve; every vLLM deployment,
    the gpu profile's 1.5B (vllm-large) too, says the context the servers get."""
    models = yaml.safe_load((ROOT / "configs" / "models.yaml").read_text())["model_list"]
    vllm = [m for m in models if m["litellm_params"]["model"].startswith("hosted_vllm/")]
    proven = [m for m in vllm if m["litellm_params"]["api_base"] == "os.environ/VLLM_API_BASE"]
    assert {tuple(m["profiles"]) for m in proven} == {("gpu",), ("vllm",)}
    for entry in proven:
        assert entry["litellm_params"]["model"] == f"hosted_vllm/{SERVED_NAME}"
    for entry in vllm:
        assert entry["model_info"]["context_window"] == MAX_MODEL_LEN


def test_compose_gpu_runs_the_large_model_with_the_same_context() -> None:
    services = yaml.safe_load((ROOT / "compose.gpu.yml").read_text())["services"]
    args = [str(a) for a in services["vllm-large"]["command"]]
    assert args[args.index("--max-model-len") + 1] == str(MAX_MODEL_LEN)
