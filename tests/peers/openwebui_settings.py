"""The Open WebUI release and settings that tests/peers/test_openwebui.py proves against a real Hearth
and that the open-webui service of compose.cpu.yml and compose.gpu.yml uses (tests/deploy checks that they
agree)."""

from __future__ import annotations

VERSION = "0.12.4"  # scripts/peers.sh installs open-webui==VERSION; compose runs the image tagged vVERSION

# set the same way by hand and in compose; the Hearth URL, its key and the data folder differ
SHARED_ENV = {
    # every model comes through Hearth: no Ollama connection of Open WebUI's own
    "ENABLE_OLLAMA_API": "false",
    # chat titles, tags and follow-up suggestions from the plain chat model, not from a RAG assistant
    "TASK_MODEL_EXTERNAL": "default",
    # no update check, no model downloads from Hugging Face (it sets HF_HUB_OFFLINE)
    "OFFLINE_MODE": "true",
}
