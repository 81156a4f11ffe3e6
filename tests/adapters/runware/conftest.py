"""Each Runware test starts with nothing learned about which option object a model takes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imageshim_adapters.runware.shape import MEMORY


@pytest.fixture(autouse=True)
def _fresh_option_shapes() -> Iterator[None]:
    MEMORY.forget()
    yield
    MEMORY.forget()
