"""``hearth eval``: answer quality measured through the running server's HTTP API.

dataset.py   the question file (JSONL): parse and validate, one error per bad line
metrics.py   pure per-question checks: retrieval hit, facts, refusals, leaks, copied passages, numbers
runner.py    send each question to /v1/collections/{name}/query or /v1/assistants/{name}/ask (httpx)
report.py    aggregate the results, the Rich table and the JSON document
errors.py    EvaluationError and its subclasses (one-line reasons for the CLI)
"""
