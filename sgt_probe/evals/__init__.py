"""Evaluations: understanding and generation benchmarks, and the independent generation judge."""
