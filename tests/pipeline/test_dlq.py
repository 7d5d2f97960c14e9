"""Dead letters: listed with their reasons, re-driven once after a fix (both buses)."""

from __future__ import annotations

from pipeline.bus import Bus
from pipeline.dlq import list_letters, replay
from pipeline.events import RAW_TOPIC
from pipeline.normalizer import make_normalizer
from tests.support.events import drain, publish_raw, raw_event, run_until_idle


def test_list_and_replay_dead_letters(bus: Bus) -> None:
    publish_raw(bus, raw_event(1))
    publish_raw(bus, raw_event(2, title="  "))  # normalize: no title
    bus.publish(RAW_TOPIC, "src:bad-json", b"{not json", [("trace", b"t-1")])
    bus.flush()
    run_until_idle(make_normalizer(bus, group="n-dlq"))

    letters = list_letters(bus)
    assert sorted(letter.key for letter in letters) == ["src:2", "src:bad-json"]
    bad = next(letter for letter in letters if letter.key == "src:bad-json")
    assert (bad.stage, bad.original_topic, bad.error_class) == ("normalize", RAW_TOPIC, "InvalidEvent")
    assert "invalid JSON" in bad.error_message and bad.payload == "{not json"
    assert list_letters(bus, stage="index") == []
    assert len(list_letters(bus)) == 2  # listing consumes nothing

    assert len(replay(bus, dry_run=True)) == 2
    redriven = replay(bus)
    assert sorted(letter.key for letter in redriven) == ["src:2", "src:bad-json"]
    assert replay(bus) == []  # each letter is re-driven once

    reader = bus.consumer("raw-after-replay", [RAW_TOPIC])
    raw = drain(reader, 5)
    reader.close()
    again = [m for m in raw if m.key == b"src:bad-json"]
    assert len(again) == 2 and again[-1].value == b"{not json"  # the original bytes, unchanged
    assert ("trace", b"t-1") in again[-1].headers
    assert not any(k.startswith("dlq-") for k, _ in again[-1].headers)
