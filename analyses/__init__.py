"""Paper figures and tables, one script per figure, reading only report dirs.

Run one with `python -m sgt_probe.analyses.<name> RUNS_OR_REPORT_DIRS... --out DIR`, or all with
`python -m sgt_probe.analyses.make_all RUNS_DIR [--out DIR]`.
"""
