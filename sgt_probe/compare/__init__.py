"""`sgt-probe compare`: every analysis on the same items for several checkpoints."""

# Cross-validation folds of every probe (grouped by scene), over the half of the probe scenes
# the probes fit on: the CLI checks there are enough scenes while it parses, importing nothing
# heavy from here.
PROBE_FOLDS = 3
