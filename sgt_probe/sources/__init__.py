"""Model sources: one protocol (`base.ModelSource`) over the models compare, eval and tune read,
an sgt-probe `.pt` checkpoint (`checkpoint`) or a Hugging Face directory of a unified model
(`hf`: Emu3 `emu3`, Janus `janus`, Chameleon `chameleon`).

This package's own import is light: `hfdir` checks a directory from its files alone, for the
CLI; `open.open_sources` loads.
"""
