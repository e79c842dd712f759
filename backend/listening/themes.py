"""Complaint themes: normalise text, group near-identical complaints, find what people complain about.

Grouping is MinHash with banded locality-sensitive hashing over the word sets
of each complaint, with every candidate pair checked by exact Jaccard
similarity, so thousands of posts group in well under a second and the
result does not depend on luck. Groups are joined transitively (A~B and B~C
put A, B, C together), which is what "the same complaint" means in a crisis
where people copy and lightly edit each other's posts.

All of it is deterministic: the hash functions come from a fixed seed.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# @user and @user@instance.social (Mastodon), @name.bsky.social (Bluesky).
_HANDLE = re.compile(r"(?<!\w)@[\w.\-]+(?:@[\w.\-]+)?")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

STOPWORDS_EN = frozenset(
    """
a about above after again against all am an and any are aren't as at be because been before being
below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't
down during each few for from further get got had hadn't has hasn't have haven't having he her here
hers herself him himself his how i i'm i've if in into is isn't it it's its itself just let's me
more most my myself no nor not now of off on once only or other ought our ours ourselves out over
own same she should shouldn't so some still such than that that's the their theirs them themselves
then there there's these they they're this those through to too under until up us very was wasn't
we we're were weren't what when where which while who whom why will with won't would wouldn't you
you're your yours yourself yourselves already also really yet ever even again anyone anything
hi hello hey pls please thanks thank im ive dont cant wont isnt doesnt didnt
""".split()
)

STOPWORDS_DE = frozenset(
    """
aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes auch
auf aus bei bin bis bist da damit dann das dass daß dein deine deinem deinen deiner dem den denn der
des dich die dies diese diesem diesen dieser dieses dir doch dort du durch ein eine einem einen
einer eines einfach er es etwas euch euer eure für gegen gibt hab habe haben hat hatte hier hin
hinter ich ihm ihn ihnen ihr ihre ihrem ihren ihrer im immer in ins ist ja jetzt kann kein keine
keinem keinen keiner man mehr mein meine meinem meinen meiner mich mir mit muss nach nicht nichts
noch nun nur ob oder ohne schon sehr sein seine seinem seinen seiner sich sie sind so soll sollte
um und uns unser unsere unter viel vom von vor war waren warum was weil wenn wer werde werden wie
wieder wir wird wo zu zum zur über hallo danke bitte mal gar halt eben
""".split()
)

STOPWORDS = STOPWORDS_EN | STOPWORDS_DE

_PRIME = (1 << 61) - 1
_NUM_PERM = 96
_BANDS = 32  # 32 bands of 3 rows: pairs at Jaccard 0.5 become candidates with p > 0.98
_ROWS = _NUM_PERM // _BANDS
_SEED = 20261125


def normalise(text: str, ignore: Iterable[str] = ()) -> list[str]:
    """Content words of a post, in order: casefolded, without URLs, @handles, '#' marks,
    English and German stopwords, single letters, or words in `ignore` (e.g. the brand)."""
    skip = STOPWORDS | {w.casefold() for w in ignore}
    text = _HANDLE.sub(" ", _URL.sub(" ", text)).replace("#", " ")
    words = (w.replace("’", "'") for w in _WORD.findall(text.casefold()))
    return [w for w in words if len(w) > 1 and w not in skip and not w.isdigit()]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Shared words over all words; two empty sets are not similar."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True, slots=True)
class Complaint:
    """One post to group: its id (conversation or mention) and text."""

    id: object
    text: str


@dataclass(frozen=True, slots=True)
class ComplaintGroup:
    """Near-identical complaints; `example` is the earliest one's text, `topic` what they are about."""

    ids: tuple[object, ...]
    example: str
    topic: str

    @property
    def size(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class Theme:
    """A frequent complaint term (a word or a two-word phrase) and how many posts use it."""

    term: str
    count: int


class _MinHasher:
    def __init__(self, seed: int = _SEED):
        rng = random.Random(seed)
        self.params = [
            (rng.randrange(1, _PRIME), rng.randrange(0, _PRIME)) for _ in range(_NUM_PERM)
        ]
        self.cache: dict[str, list[int]] = {}

    def token(self, word: str) -> list[int]:
        hashes = self.cache.get(word)
        if hashes is None:
            x = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
            hashes = [(a * x + b) % _PRIME for a, b in self.params]
            self.cache[word] = hashes
        return hashes

    def signature(self, words: frozenset[str]) -> list[int]:
        return [min(column) for column in zip(*(self.token(w) for w in sorted(words)))]


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            # The earlier complaint stays the root, so groups are named by their first post.
            self.parent[max(ri, rj)] = min(ri, rj)


def group_complaints(
    complaints: Sequence[Complaint], threshold: float = 0.6, ignore: Iterable[str] = ()
) -> list[ComplaintGroup]:
    """Group near-identical complaints (word-set Jaccard >= threshold), biggest group first.

    Complaints in input order (oldest first) keep that order inside a group.
    Posts with no content words stay on their own.
    """
    if not 0 < threshold <= 1:
        raise ValueError("threshold must be more than 0 and at most 1")
    ignore = tuple(ignore)
    words = [frozenset(normalise(c.text, ignore)) for c in complaints]
    uf = _UnionFind(len(complaints))

    # Identical word sets join directly; only one of each goes through MinHash.
    first_with: dict[frozenset[str], int] = {}
    distinct: list[int] = []
    for i, ws in enumerate(words):
        if not ws:
            continue
        if ws in first_with:
            uf.union(first_with[ws], i)
        else:
            first_with[ws] = i
            distinct.append(i)

    hasher = _MinHasher()
    buckets: dict[tuple[int, tuple[int, ...]], list[int]] = defaultdict(list)
    for i in distinct:
        sig = hasher.signature(words[i])
        for band in range(_BANDS):
            buckets[(band, tuple(sig[band * _ROWS : (band + 1) * _ROWS]))].append(i)
    for members in buckets.values():
        if len(members) < 2:
            continue
        # Compare each member with one representative per group already seen in this
        # bucket: linear in a crisis, where most of a bucket is one group.
        reps: list[int] = [members[0]]
        for i in members[1:]:
            root = uf.find(i)
            joined = False
            for r in reps:
                if uf.find(r) == root:
                    joined = True
                    break
                if jaccard(words[i], words[r]) >= threshold:
                    uf.union(i, r)
                    joined = True
                    break
            if not joined:
                reps.append(i)

    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(complaints)):
        groups[uf.find(i)].append(i)
    themes = top_themes([c.text for c in complaints], limit=50, ignore=ignore)
    out = []
    for root, members in groups.items():
        out.append(
            ComplaintGroup(
                ids=tuple(complaints[i].id for i in members),
                example=complaints[root].text,
                topic=topic_of(complaints[root].text, themes, ignore),
            )
        )
    out.sort(key=lambda g: -g.size)  # stable: equal sizes stay in order of their first post
    return out


def _terms(words: Sequence[str]) -> set[str]:
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:]) if a != b}


def top_themes(
    texts: Iterable[str], limit: int = 10, min_count: int = 2, ignore: Iterable[str] = ()
) -> list[Theme]:
    """The most frequent complaint terms, counted once per post.

    A two-word phrase replaces its words when it carries at least half of
    their use ("order missing" rather than "order" and "missing"); ties go
    alphabetically so the list is stable."""
    ignore = tuple(ignore)
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(_terms(normalise(text, ignore)))
    frequent = {t: n for t, n in counts.items() if n >= min_count}
    covered: set[str] = set()
    for term, n in frequent.items():
        if " " in term:
            for word in term.split(" "):
                if n * 2 >= frequent.get(word, 0):
                    covered.add(word)
    ranked = sorted(
        ((t, n) for t, n in frequent.items() if t not in covered),
        key=lambda tn: (-tn[1], " " not in tn[0], tn[0]),
    )
    return [Theme(term, n) for term, n in ranked[:limit]]


def topic_of(text: str, themes: Sequence[Theme] = (), ignore: Iterable[str] = ()) -> str:
    """What a post is about, in a few words: the best-ranked theme it mentions, else
    "your message". (Its first two words were the fallback once, and a customer read
    "sorry about answers cancelling": a theme the crowd shares reads as a topic, two
    arbitrary words do not.)"""
    terms = _terms(normalise(text, ignore))
    for theme in themes:
        if theme.term in terms:
            return theme.term
    return "your message"


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def personalise_holding_statement(
    template: str, name: str, topic: str, fallback_name: str = "there"
) -> str:
    """Fill {name} and {topic} in a lead's holding statement.

    A leading '@' is dropped from the name and an empty name becomes
    `fallback_name` ("Hi there"). Any other {placeholder} is an error, so a
    typo never reaches a customer as literal braces."""
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - {"name", "topic"})
    if unknown:
        raise ValueError(
            f"holding statement has unknown placeholder(s): {', '.join('{' + u + '}' for u in unknown)}"
            " (use {name} and {topic})"
        )
    clean_name = " ".join(name.split()).lstrip("@") or fallback_name
    clean_topic = " ".join(topic.split()) or "your message"
    values = {"name": clean_name, "topic": clean_topic}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
