"""What a test does when a real service it needs is missing."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE = os.environ.get("REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> NoReturn:
    """Skip for a missing service; fail under ``REQUIRE_SERVICES=1`` (CI)."""
    if REQUIRE:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)
