"""The analyses `compare` runs, one suite per module.

A suite module has a NAME (the report section it fills: a field of
`sgt_probe.report.schema.ReportData`) and `run(inputs, arrays)`, which reads the prepared items
and captured residuals from `Inputs`, adds its arrays to `arrays` (arrays.npz) and returns its
typed section; what it cannot do on the compared world it records with `inputs.skip(what,
why)` (the report's `skipped`). A new analysis is a new module here, its section in the
schema, and one entry in SUITES below.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from sgt_probe.compare.suites import (
    alignment,
    attention,
    benchmarks,
    cka,
    embeddings,
    knockout,
    probes,
)

# Run order: benchmarks first, then the suites that read residuals, sharing one capture.
SUITES: dict[str, ModuleType] = {
    s.NAME: s for s in (benchmarks, probes, attention, knockout, cka, alignment, embeddings)
}


def select(names: Sequence[str]) -> list[ModuleType]:
    """The suites `names` asks for, in run order; ValueError naming an unknown one."""
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise ValueError(f"unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}")
    if not names:
        raise ValueError(f"no suite to run; choose from {', '.join(SUITES)}")
    return [s for n, s in SUITES.items() if n in names]
