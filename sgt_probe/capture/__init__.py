"""Hooked forward passes through TransformerLens `TransformerBridge` (docs/design.md §3, §5)."""
