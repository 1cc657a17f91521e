"""The unified model: one Llama-family decoder that reads and writes images (docs/design.md §3)."""
