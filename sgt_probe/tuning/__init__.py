"""Base training and SGT tuning: one loop, with or without a generative proxy task."""
