"""The quick builder makes the same frozen objects the dataclass __init__ makes."""

import dataclasses

import pytest

from backend.listening.enrich import Enrichment, ProcessedMention
from backend.listening.frozen import builder
from backend.listening.matching import Match
from backend.listening.triage import Triage


def test_built_objects_equal_the_usual_ones_and_stay_frozen():
    e = builder(Enrichment)(
        "de", -0.4, 120, ({"check": "abusive"},), "P2", 5, ("negative (-0.40)",)
    )
    assert type(e) is Enrichment
    assert e == Enrichment("de", -0.4, 120, ({"check": "abusive"},), "P2", 5, ("negative (-0.40)",))
    assert builder(Match)(("tagged",), ("@acme",), True) == Match(
        ("tagged",), ("@acme",), ours=True
    )
    assert builder(Triage)("P4", 0, ()) == Triage("P4", 0, ())
    m = builder(ProcessedMention)(None, None, e)
    assert m.enrichment is e and not hasattr(m, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.priority = "P1"


def test_only_frozen_slotted_dataclasses_without_post_init():
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self):
            assert self.a > 0

    for cls in (NoSlots, NotFrozen, Checked):
        with pytest.raises(TypeError, match="frozen dataclass with slots"):
            builder(cls)
