"""Runs inside a network namespace that has only loopback (see test_offline.py): brings `lo` up, starts
`hearth serve` (embedded profile: no PostgreSQL, no Redis reachable, so the embedded redis-server starts),
and exercises it with the openai SDK. Prints one JSON line with what it saw."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support import start_server  # noqa: E402


def internet_reachable() -> bool:
    try:
        with socket.create_connection(("1.1.1.1", 443), timeout=2):
            return True
    except OSError:
        return False


def main() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    data_dir = Path(sys.argv[1])
    server = start_server(data_dir, env={"HEARTH_REDIS__URL": "redis://127.0.0.1:6379/0"})
    try:
        client = openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0, timeout=120)
        chat = client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Say OK."}], max_tokens=8, temperature=0
        )
        stream = client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Say OK."}], max_tokens=8, stream=True
        )
        streamed = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
        e5 = client.embeddings.create(model="multilingual-e5-small", input="안녕하세요")
        minilm = client.embeddings.create(model="all-minilm-l6-v2", input="hello")
        ready = __import__("httpx").get(f"{server.base_url}/readyz", timeout=10).json()
        result = {
            "internet": internet_reachable(),
            "chat": chat.choices[0].message.content,
            "stream": streamed,
            "e5_dims": len(e5.data[0].embedding),
            "minilm_dims": len(minilm.data[0].embedding),
            "redis": ready["checks"]["redis"],
        }
    finally:
        server.stop()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
