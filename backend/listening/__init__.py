"""Listening: which posts mention the brand, and how urgent each one is.

Pure functions on plain data; ingest calls `Listener.process` for each post.
"""

from .enrich import Enrichment, Flagger, Listener, ProcessedMention, enrich
from .matching import THREAD, Match, match, only_by_thread
from .rules import ListeningRules, Rules, TriageRules, load_listening, load_rules, load_triage
from .triage import Triage, triage

__all__ = [
    "Enrichment",
    "Flagger",
    "Listener",
    "ProcessedMention",
    "enrich",
    "Match",
    "match",
    "THREAD",
    "only_by_thread",
    "ListeningRules",
    "Rules",
    "TriageRules",
    "load_listening",
    "load_rules",
    "load_triage",
    "Triage",
    "triage",
]
