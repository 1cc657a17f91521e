"""The cka suite: debiased linear CKA between the reference's image-position residuals and each
other checkpoint's, layer by layer."""

from __future__ import annotations

import numpy as np

from sgt_probe.compare.inputs import Inputs
from sgt_probe.probes.cka import layerwise_cka
from sgt_probe.report.schema import Cka, CkaPair

NAME = "cka"


def run(inputs: Inputs, arrays: dict[str, np.ndarray]) -> Cka:
    ref, *others = inputs.names
    return Cka(pairs=[
        CkaPair(a=ref, b=b, values=[float(v) for v in layerwise_cka(inputs.residuals(ref),
                                                                     inputs.residuals(b))])
        for b in others
    ])  # fmt: skip
