"""`sgt-probe compare`: every analysis on the same items for several checkpoints."""
