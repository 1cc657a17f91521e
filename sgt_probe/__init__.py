"""sgt-probe: a workbench for the mechanistic study of Semantic Generative Tuning (SGT)."""

import os

# Models here are built from configs, never fetched: without this, booting a TransformerBridge
# by name retries a hub lookup that cannot succeed offline (and must not, by design).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

__version__ = "0.1.0"
