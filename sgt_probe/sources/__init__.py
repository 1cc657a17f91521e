"""Model sources: one protocol (`base.ModelSource`) over the models compare, eval and tune read,
an sgt-probe `.pt` checkpoint (`checkpoint`) or a Hugging Face Emu3 directory (`emu3`).

This package's own import is light: `hfdir` checks a directory from its files alone, for the
CLI; `open.open_sources` loads.
"""
