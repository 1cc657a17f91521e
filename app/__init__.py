"""The sgt-probe dashboard: a multi-page Dash app that reads report dirs and nothing else."""
