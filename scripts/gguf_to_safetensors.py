"""Convert a GGUF chat model (the bundled Qwen2.5-Coder-0.5B-Instruct Q4_K_M) into a bf16 safetensors
folder that vLLM can serve: vLLM's GGUF support needs CUDA/Triton, so its CPU build cannot load the GGUF.

Runs in the vLLM virtual environment (transformers, gguf, safetensors, torch), not in Hearth's:

    .venv-peers/vllm/bin/python scripts/gguf_to_safetensors.py MODEL.gguf OUT_DIR [--name NAME]

transformers dequantizes the GGUF when it loads it (``gguf_file=``); ``save_pretrained`` refuses a model
loaded that way, so the state dict is written with safetensors and the config by hand. The folder is written
next to OUT_DIR and renamed into place, so an interrupted run leaves nothing half written; a folder whose
``hearth-export.json`` names the same GGUF (size and mtime) is reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ARCHITECTURES = {"qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM"}


def fingerprint(gguf: Path) -> dict[str, object]:
    stat = gguf.stat()
    return {"gguf": str(gguf.resolve()), "size": stat.st_size, "mtime": int(stat.st_mtime)}


def convert(gguf: Path, out: Path, name: str | None) -> Path:
    marker = out / "hearth-export.json"
    if marker.is_file() and json.loads(marker.read_text()).get("source") == fingerprint(gguf):
        print(f"up to date: {out}")
        return out
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    folder, filename = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    config = AutoConfig.from_pretrained(folder, gguf_file=filename)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.bfloat16)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        state = {key: tensor.contiguous() for key, tensor in model.state_dict().items()}
        if getattr(config, "tie_word_embeddings", False):
            state.pop("lm_head.weight", None)  # tied: vLLM reads it from the embeddings
        save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})
        data = config.to_dict()
        data["architectures"] = [ARCHITECTURES.get(str(config.model_type)) or type(model).__name__]
        data["torch_dtype"] = "bfloat16"
        data.pop("dtype", None)
        (staging / "config.json").write_text(json.dumps(data, indent=2))
        tokenizer.save_pretrained(str(staging))
        if name:
            (staging / "README.md").write_text(f"{name}: converted from {gguf.name} by Hearth\n")
        (staging / "hearth-export.json").write_text(json.dumps({"source": fingerprint(gguf)}, indent=2))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e9
    print(f"wrote {out} ({size:.2f} GB) in {time.monotonic() - started:.0f}s")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gguf", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    if not args.gguf.is_file():
        print(f"no such GGUF file: {args.gguf}", file=sys.stderr)
        return 2
    convert(args.gguf, args.out, args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
