"""benchmarks/tokenizer_bench.py: variants and image kinds are read, or refused before a fit."""

import argparse
import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "tokenizer_bench", Path(__file__).parents[1] / "benchmarks" / "tokenizer_bench.py"
)
tokenizer_bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(tokenizer_bench)


def test_a_variant_is_read_as_tokenizer_arguments():
    assert tokenizer_bench.variant("n_codes=1024,object_weight=8.0") == {
        "n_codes": 1024, "object_weight": 8.0
    }  # fmt: skip
    assert tokenizer_bench.variant("") == {}


@pytest.mark.parametrize("text", ["n_codes", "n_codes=many", "width=3", "patch_size=3"])
def test_a_bad_variant_is_refused_by_name(text):
    with pytest.raises(argparse.ArgumentTypeError, match=text.split("=")[0]):
        tokenizer_bench.variant(text)


def test_kinds_keep_repeats_and_refuse_unknown_ones():
    assert tokenizer_bench.kinds("scene, scene,edge") == ["scene", "scene", "edge"]
    with pytest.raises(argparse.ArgumentTypeError, match="bogus"):
        tokenizer_bench.kinds("scene,bogus")
    with pytest.raises(argparse.ArgumentTypeError):
        tokenizer_bench.kinds(",")
