"""Stock and ETF reports: market data (market.py), figures (indicators.py), Markdown (render.py), the model's
narrative (narrative.py) and the service that ties them together and stores the result (service.py)."""
