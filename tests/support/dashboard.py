"""The coverage dashboard's test credentials and a minimal registry entry."""

from __future__ import annotations

AUTH = ("officer", "s3cret-officer")


class Src:
    def __init__(self, sid: str) -> None:
        self.id, self.disabled_reason, self.schedule = sid, None, "every 1h"
