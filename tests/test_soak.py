"""A short soak (bench/soak.py at a low rate): the real backend process under a
steady feed and operators claiming and replying; nothing refused, every reply
published once, queue and outbox drained, and the table printed."""

from __future__ import annotations

import re

import pytest

from bench.soak import soak

pytestmark = pytest.mark.faults


async def test_short_soak_holds(capsys):
    code = await soak(seconds=6, rate=100, n_operators=4, drain=60, seed=3)
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.rstrip().endswith("held")
    counts = {
        m[1].strip(): float(m[2])
        for m in re.finditer(r"^([a-z][a-z /()]+?)\s+([\d.]+)$", out, re.M)
    }
    assert (
        counts["mentions sent"] >= 500 and counts["mentions refused"] == 0
    )  # the feed stops on time
    assert counts["replies published twice"] == 0 and counts["outbox left"] == 0
    assert counts["replies published"] == counts["replies queued"] > 0
