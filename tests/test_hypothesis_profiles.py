"""The hypothesis profiles of ``tests/conftest.py``: the default one repeats itself,
``explore`` does not (issue #24)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

DEFAULT = os.environ.get("HYPOTHESIS_PROFILE") in (None, "", "default", "ci")


@pytest.mark.skipif(not DEFAULT, reason="checks the default profile")
def test_default_profile_replays_the_same_examples():
    """``python -m pytest`` runs the same examples every time: derandomized, and with
    no database whose leftovers could add examples to a later run."""
    assert settings.default.derandomize
    assert settings.default.database is None
    seen: list[float] = []

    @given(st.floats(allow_nan=False))
    def prop(x: float) -> None:
        seen.append(x)

    prop()
    first = list(seen)
    seen.clear()
    prop()
    assert seen == first and len(first) > 1


def test_explore_profile_is_random_and_larger_than_the_default():
    explore, default = settings.get_profile("explore"), settings.get_profile("default")
    assert not explore.derandomize and explore.database is None and explore.deadline is None
    assert explore.max_examples > default.max_examples
    assert default.derandomize and default.deadline is None
