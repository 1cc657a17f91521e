"""The unified model: one Llama-family decoder that reads and writes images (DESIGN.md 3)."""
