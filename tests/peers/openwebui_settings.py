"""The Open WebUI release and settings that tests/peers/test_openwebui.py proves against a real Hearth
and that the open-webui service of compose.cpu.yml and compose.gpu.yml uses (tests/deploy checks that they
agree)."""

from __future__ import annotations

VERSION = "0.12.4"  # scripts/peers.sh installs open-webui==VERSION; compose runs the image tagged vVERSION

# Open WebUI's own title prompt has small models copy its first example: the 0.5B titled a 월세 question
# "Stock Trends", and the 1.5B titles a Korean question in English (it says "default to English"). This one
# asks for the question's language and words, with examples far from any Hearth corpus.
TITLE_PROMPT = """Write a title of two to five words for a chat that starts with the question below.
Write it in the question's language: a Korean question gets a Korean title, an English one an English title.
Use the key words of the question. No emojis, no quotation marks.
Reply with only a JSON object: {"title": "the title"}

Examples:
How do I reset my router password? -> {"title": "Router Password Reset"}
김치찌개는 어떻게 끓이나요? -> {"title": "김치찌개 끓이는 법"}

Question:
{{prompt:middletruncate:500}}"""

# set the same way by hand and in compose; the Hearth URL, its key and the data folder differ
SHARED_ENV = {
    # every model comes through Hearth: no Ollama connection of Open WebUI's own
    "ENABLE_OLLAMA_API": "false",
    # chat titles, tags and follow-up suggestions from the plain chat model, not from a RAG assistant
    "TASK_MODEL_EXTERNAL": "default",
    "TITLE_GENERATION_PROMPT_TEMPLATE": TITLE_PROMPT,
    # no update check, no model downloads from Hugging Face (it sets HF_HUB_OFFLINE)
    "OFFLINE_MODE": "true",
}
