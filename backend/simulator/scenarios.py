"""The simulator: a pretend platform full of customers talking about Acme.

It writes realistic mentions (English and German; tagged @acme, #hashtags and
plain "Acme"; angry, neutral and happy; customers following up in their own
threads) and records the replies we publish to it. Seeded, so a scenario plays
the same way every time, and post ids repeat with the seed: replaying a batch
stores nothing twice.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web

from backend.clock import Clock
from backend.model import Author, InboundPost, OutboundMessage, Published

PLATFORM = "simulator"

# (language, mood, text). {tag} is how the brand is named in this post.
LINES: list[tuple[str, str, str]] = [
    ("en", "angry", "{tag} your app ate my order AGAIN. Third time this week. Where is my refund?"),
    (
        "en",
        "angry",
        "{tag} been on hold for 45 minutes, nobody answers. Cancelling my subscription.",
    ),
    (
        "en",
        "angry",
        "{tag} the delivery was supposed to come yesterday. Still nothing. Tracking says 'in transit' since Monday",
    ),
    (
        "en",
        "angry",
        "Honestly {tag} is the worst. Charged twice for one order and support just closes my tickets",
    ),
    (
        "en",
        "angry",
        "{tag} outage again?? The app won't even log me in. I have a presentation in 20 min",
    ),
    ("en", "angry", "{tag} I want to talk to someone who can actually fix this, not a bot"),
    ("en", "neutral", "{tag} do you ship to Ireland? Couldn't find it on the website"),
    ("en", "neutral", "Does anyone know if {tag} still does the student discount?"),
    ("en", "neutral", "{tag} how do I change the email address on my account?"),
    ("en", "neutral", "{tag} is the store in Leeds open on Sunday?"),
    (
        "en",
        "happy",
        "Shout-out to {tag} support, sorted my broken charger in 5 minutes. Impressed!",
    ),
    ("en", "happy", "New {tag} Go app update is so much faster, well done"),
    ("en", "happy", "{tag} thanks for the quick replacement, arrived this morning :)"),
    (
        "de",
        "angry",
        "{tag} meine Bestellung ist seit zwei Wochen nicht da. Ich will mein Geld zurück!",
    ),
    ("de", "angry", "{tag} schon wieder doppelt abgebucht. Ich überlege ernsthaft die Kündigung."),
    (
        "de",
        "angry",
        "Die App von {tag} stürzt bei jedem Start ab. Seit dem Update geht gar nichts mehr",
    ),
    ("de", "angry", "{tag} seit einer Stunde in der Warteschleife. Das ist einfach nur frech."),
    ("de", "neutral", "{tag} liefert ihr auch nach Österreich?"),
    ("de", "neutral", "Weiß jemand, ob {tag} Rechnungen auch per Post schickt?"),
    ("de", "neutral", "{tag} wie ändere ich meine Lieferadresse nach der Bestellung?"),
    ("de", "happy", "Danke {tag}, das Ersatzgerät kam super schnell an!"),
    ("de", "happy", "Muss mal sagen: der Kundenservice von {tag} war heute richtig gut."),
]

FOLLOW_UPS: dict[str, list[str]] = {
    "en": [
        "Still waiting...",
        "Hello?? Anyone there?",
        "Any update on this?",
        "Thanks, that helped!",
        "It's been an hour. Seriously.",
        "ok I sent you the details",
    ],
    "de": [
        "Immer noch nichts...",
        "Hallo? Jemand da?",
        "Gibt es schon was Neues?",
        "Danke, hat geklappt!",
        "Seit einer Stunde keine Antwort.",
        "Hab euch die Daten geschickt",
    ],
}

# A crisis pile-on: the affected customers quoting each other ("me too"), and
# bystanders replying inside a customer's thread (their client keeps @acme in it).
SAME_HERE: dict[str, list[str]] = {
    "en": [
        "Same here!! {tag} sort it out",
        "+1, exactly the same for me {tag}",
        "Me too. {tag} what is going on?",
    ],
    "de": [
        "Bei mir genauso {tag}",
        "Hier auch! {tag} was ist los?",
        "Dito. {tag} bitte endlich reparieren",
    ],
}
BYSTANDER_REPLIES = [
    "@{customer} @{brand} same, it's down for me too",
    "@{customer} @{brand} ugh, been like this since this morning",
    "@{customer} @{brand} their status page says all green lol",
    "@{customer} @{brand} bei mir auch, seit Stunden",
    "@{customer} @{brand} have you tried reinstalling? didn't help me",
]
# Posts that name Acme but are not about us: the listening rules' exclusions drop them.
NOT_ABOUT_US = [
    "Wile E. Coyote ordered another Acme anvil, classic",
    "Looney Tunes marathon tonight, all the Acme rockets",
    "This lasagne is the acme of perfection",
    "Termin in der Acme Klinik verschoben, na toll",
]

NAMES = [
    "Jo Kamara",
    "Lena Vogt",
    "Max Berger",
    "Priya Shah",
    "Tom Walsh",
    "Anja Krüger",
    "Sam Okafor",
    "Mia Hoffmann",
    "Ravi Patel",
    "Claire Dubois",
    "Jonas Weber",
    "Ella Fischer",
    "Noah Brown",
    "Lea Schmitt",
    "Omar Haddad",
    "Kate Morgan",
    "Felix Wagner",
    "Hannah Becker",
    "Luca Rossi",
    "Zoe Clarke",
]


@dataclass(frozen=True)
class Scenario:
    name: str
    angry_share: float  # of new posts
    follow_up_share: float  # chance a post is a follow-up in an existing thread
    tag_style: tuple[float, float, float]  # tagged, hashtag, plain name
    rate: float = 0.2  # mentions per second, unless the caller says otherwise
    # A pile-on (shares of the posts that are not a new customer's first; the rest chase in their own thread):
    same_here_share: float = 0.0  # an affected customer quoting another's post, outside any thread
    bystander_share: float = 0.0  # a stranger replying inside a recent customer's thread
    not_about_us_share: float = 0.0  # names Acme, but not about us (dropped by the exclusions)
    hot_threads: int = 30  # the most recent customers whose threads the pile-on lands in
    new_customers_per_s: float | None = (
        None  # pile-on: new customers a second, unless the caller says
    )


SCENARIOS = {
    # A calm day: a mention every few seconds, mostly questions.
    "calm": Scenario(
        "calm", angry_share=0.25, follow_up_share=0.15, tag_style=(0.6, 0.15, 0.25), rate=0.2
    ),
    # A crisis surge: an outage, hundreds of angry customers a second, chasing their threads.
    "crisis": Scenario(
        "crisis", angry_share=0.8, follow_up_share=0.3, tag_style=(0.5, 0.3, 0.2), rate=200.0
    ),
    # The same outage at full volume: thousands of posts a second, few of them from
    # new customers (a bounded rate, see Simulator's new_customers_per_s): the
    # affected chase in their threads, quote each other, strangers reply in
    # their threads, and a quarter is not about us at all.
    "pileon": Scenario(
        "pileon",
        angry_share=0.8,
        follow_up_share=0.0,
        tag_style=(0.5, 0.3, 0.2),
        rate=2000.0,
        same_here_share=0.15,
        bystander_share=0.25,
        not_about_us_share=0.25,
        hot_threads=100,
        new_customers_per_s=10.0,
    ),
}


def webhook_post(post: InboundPost) -> dict:
    """A post as the body of POST /ingest/{source} carries it (see backend.connectors.webhook)."""
    return {
        "id": post.post_id,
        "author": {
            "id": post.author.platform_id,
            "handle": post.author.handle,
            "display_name": post.author.display_name,
            "followers": post.author.followers,
        },
        "text": post.text,
        "created_at": post.created_at.isoformat(),
        "url": post.url,
        "in_reply_to": post.in_reply_to,
        "thread_root": post.thread_root,
        "is_direct": post.is_direct,
        "language": post.language,
        "mentions": list(post.mentioned_handles),
        "hashtags": list(post.hashtags),
    }


@dataclass
class _Customer:
    author: Author
    language: str
    posts: list[str] = field(default_factory=list)
    first_seq: int = 0  # the sequence number of their first post


class Simulator:
    """Generates mentions for a scenario; deterministic for a seed and a sequence number."""

    def __init__(
        self,
        scenario: str,
        seed: int,
        clock: Clock,
        brand_handle: str = "acme",
        brand_name: str = "Acme",
        *,
        new_customer_share: float | None = None,
        settle_posts: int = 0,
    ):
        """`new_customer_share` (pile-on scenarios): the fraction of posts that are a new
        customer's first, evenly spaced; pile-on posts only land in threads at least
        `settle_posts` posts old (so a sender with several requests in flight never
        delivers a reply before the post it answers)."""
        if scenario not in SCENARIOS:
            raise ValueError(
                f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}"
            )
        self.scenario = SCENARIOS[scenario]
        self.seed = seed
        self.clock = clock
        self.brand_handle = brand_handle
        self.brand_name = brand_name
        self._rng = random.Random(seed)
        self._customers: list[_Customer] = []
        self._bystanders: list[Author] = []
        self.sequence = 0
        self.new_customer_share = new_customer_share
        self.settle_posts = settle_posts
        if new_customer_share is None and self.scenario.new_customers_per_s is not None:
            self.new_customer_share = min(
                1.0, self.scenario.new_customers_per_s / self.scenario.rate
            )

    def skip_to(self, sequence: int) -> None:
        """Resume after a restart: replay the generator silently up to `sequence`."""
        while self.sequence < sequence:
            next(self.posts(1))

    def _new_customer(self, language: str, seq: int = 0) -> _Customer:
        i = len(self._customers)
        name = NAMES[i % len(NAMES)]
        handle = (
            name.split()[0].lower()
            + ("_" + str(i // len(NAMES)) if i >= len(NAMES) else "")
            + self._rng.choice(["", "_k", "93", "_de", "x"])
        )
        followers = int(self._rng.lognormvariate(5.0, 1.8))
        c = _Customer(
            Author(f"sim-user-{self.seed}-{i}", handle, name, followers), language, first_seq=seq
        )
        self._customers.append(c)
        return c

    def _name_brand(self) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        tagged, hashtag, _ = self.scenario.tag_style
        r = self._rng.random()
        if r < tagged:
            return f"@{self.brand_handle}", (self.brand_handle,), ()
        if r < tagged + hashtag:
            tag = self._rng.choice([self.brand_name.lower(), self.brand_name.lower() + "fail"])
            return f"#{tag}", (), (tag,)
        return self.brand_name, (), ()

    def posts(self, n: int) -> Iterator[InboundPost]:
        """The next `n` posts of the scenario."""
        if self.new_customer_share is not None:
            yield from self._pile_on(n)
            return
        for _ in range(n):
            seq = self.sequence
            self.sequence += 1
            now = self.clock.now()
            open_threads = self._customers  # each has posted at least once
            if open_threads and self._rng.random() < self.scenario.follow_up_share:
                c = self._rng.choice(open_threads[-30:])
                post = self._chase(c, seq, now)
            else:
                c, post = self._first_post(seq, now)
            c.posts.append(post.post_id)
            yield post

    def _chase(self, c: _Customer, seq: int, now: datetime) -> InboundPost:
        text = self._rng.choice(FOLLOW_UPS[c.language])
        return InboundPost(
            PLATFORM,
            f"sim-{self.seed}-{seq}",
            c.author,
            f"@{self.brand_handle} {text}",
            now,
            url=f"https://simulator.invalid/{c.author.handle}/{seq}",
            in_reply_to=c.posts[-1],
            thread_root=c.posts[0],
            language=c.language,
            mentioned_handles=(self.brand_handle,),
        )

    def _first_post(self, seq: int, now: datetime) -> tuple[_Customer, InboundPost]:
        mood = (
            "angry"
            if self._rng.random() < self.scenario.angry_share
            else self._rng.choice(["neutral", "happy"])
        )
        language = "de" if self._rng.random() < 0.35 else "en"
        choices = [t for lang, m, t in LINES if lang == language and m == mood]
        tag, handles, hashtags = self._name_brand()
        c = self._new_customer(language, seq)
        return c, InboundPost(
            PLATFORM,
            f"sim-{self.seed}-{seq}",
            c.author,
            self._rng.choice(choices).format(tag=tag),
            now,
            url=f"https://simulator.invalid/{c.author.handle}/{seq}",
            language=language,
            mentioned_handles=handles,
            hashtags=hashtags,
        )

    def _bystander(self) -> Author:
        """A stranger; a few hundred of them, each chiming in many times."""
        if not self._bystanders or (len(self._bystanders) < 500 and self._rng.random() < 0.2):
            i = len(self._bystanders)
            self._bystanders.append(
                Author(
                    f"sim-bystander-{self.seed}-{i}",
                    f"passerby{i}",
                    f"Passer-by {i}",
                    int(self._rng.lognormvariate(4.0, 1.5)),
                )
            )
            return self._bystanders[-1]
        return self._rng.choice(self._bystanders)

    def _pile_on(self, n: int) -> Iterator[InboundPost]:
        sc, share = self.scenario, self.new_customer_share or 0.0
        for _ in range(n):
            seq = self.sequence
            self.sequence += 1
            now = self.clock.now()
            # New customers evenly spaced: the (k+1)-th arrives at post ceil(k / share).
            if int((seq + 1) * share) > int(seq * share):
                c, post = self._first_post(seq, now)
                c.posts.append(post.post_id)
                yield post
                continue
            hot = [
                c
                for c in self._customers[-sc.hot_threads :]
                if c.first_seq <= seq - self.settle_posts
            ]
            r = self._rng.random()
            if not hot or r < sc.not_about_us_share:
                yield InboundPost(
                    PLATFORM,
                    f"sim-{self.seed}-{seq}",
                    self._bystander(),
                    self._rng.choice(NOT_ABOUT_US),
                    now,
                    url=f"https://simulator.invalid/noise/{seq}",
                    language="en",
                )
                continue
            c = self._rng.choice(hot)
            if r < sc.not_about_us_share + sc.bystander_share:
                who = self._bystander()
                text = self._rng.choice(BYSTANDER_REPLIES).format(
                    customer=c.author.handle, brand=self.brand_handle
                )
                yield InboundPost(
                    PLATFORM,
                    f"sim-{self.seed}-{seq}",
                    who,
                    text,
                    now,
                    url=f"https://simulator.invalid/{who.handle}/{seq}",
                    in_reply_to=c.posts[-1],
                    thread_root=c.posts[0],
                    mentioned_handles=(c.author.handle, self.brand_handle),
                )
            elif r < sc.not_about_us_share + sc.bystander_share + sc.same_here_share:
                # Quoting another affected customer, outside any thread: joins the quoter's own conversation.
                quoted = self._rng.choice(hot)
                tag, handles, hashtags = self._name_brand()
                text = self._rng.choice(SAME_HERE[c.language]).format(tag=tag)
                post = InboundPost(
                    PLATFORM,
                    f"sim-{self.seed}-{seq}",
                    c.author,
                    f"{text} RT @{quoted.author.handle}",
                    now,
                    url=f"https://simulator.invalid/{c.author.handle}/{seq}",
                    language=c.language,
                    mentioned_handles=handles + (quoted.author.handle,),
                    hashtags=hashtags,
                )
                yield post
            else:
                post = self._chase(c, seq, now)
                c.posts.append(post.post_id)
                yield post


class SimulatedPlatform:
    """The far side of the simulator: records what we publish, like a platform would.

    Idempotent by key, as Mastodon is: sending the same message twice
    publishes it once.
    """

    platform = PLATFORM

    def __init__(self, clock: Clock, failure_rate: float = 0.0, seed: int = 7):
        self.clock = clock
        self.failure_rate = failure_rate
        self._rng = random.Random(seed)
        self.published: dict[str, tuple[OutboundMessage, Published, datetime]] = {}

    async def publish(self, msg: OutboundMessage) -> Published:
        if msg.idempotency_key in self.published:
            return self.published[msg.idempotency_key][1]
        if self.failure_rate and self._rng.random() < self.failure_rate:
            raise ConnectionError("simulator: the platform did not answer (simulated outage)")
        n = len(self.published) + 1
        result = Published(f"sim-reply-{n}", f"https://simulator.invalid/acme/reply-{n}")
        self.published[msg.idempotency_key] = (msg, result, self.clock.now())
        return result

    async def find_published(self, msg: OutboundMessage) -> Published | None:
        found = self.published.get(msg.idempotency_key)
        return found[1] if found else None


def opening_delay(rate: float, rng: random.Random) -> timedelta:
    """Time to the next mention for a Poisson stream of `rate` per second."""
    return timedelta(seconds=rng.expovariate(rate)) if rate > 0 else timedelta(days=1)


SIMULATED = web.AppKey("simulated_platform", SimulatedPlatform)
