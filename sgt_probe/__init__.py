"""sgt-probe: a workbench for the mechanistic study of Semantic Generative Tuning (SGT)."""

__version__ = "0.1.0"
