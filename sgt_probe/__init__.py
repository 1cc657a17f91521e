"""sgt-probe: a workbench for the mechanistic study of Semantic Generative Tuning (SGT)."""

import os

# Models here are built from configs, never fetched: without this, booting a TransformerBridge
# by name retries a hub lookup that cannot succeed offline (and must not, by design).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# OpenMP threads that spin while waiting make every torch op ~15x slower as soon as another
# process wants the same cores (measured on 2 cores: 7.4 s vs 0.44 s per tiny training step).
# Passive waiting costs nothing when the machine is idle. Read when torch loads, so it only
# helps when sgt_probe is imported first (the CLI, the tests' conftest).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
