"""Hooked forward passes through TransformerLens `TransformerBridge` (DESIGN.md 3, 5)."""
