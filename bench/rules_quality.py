"""Quality and speed of the tone, privacy and conduct checks, on our own
labelled set and on material nobody here wrote.

    python bench/rules_quality.py [--quick] [--data ../shared/data]

Prints:
1. precision and recall per check on tests/data/rules_labelled.jsonl and
   the time to check one outbound reply (with ~200 recent replies and the
   templates for the canned check);
2. the German conduct check at both operating points on GermEval 2018:
   the training part (in-sample) and the fixed held-out part the models and
   thresholds never saw (backend.checks.quality.germeval_held_out), and the
   time to check one inbound post;
3. on IBM's Twitter customer-care conversations (ibm-care/dev.json, real
   brands' agents and customers, 2020): how often each advisory and
   refusal fires on the real agent replies, with a few examples (masked,
   shortened), "canned" broken down by reason and brand and "no_apology" by
   how upset the customer reads; how often the inbound checks fire on the
   customers' posts; listening recall on the customers' first posts with a
   per-brand configuration, every miss, and how many other brands' first
   posts each brand's rules match (the false-match side).

Sections whose data are missing are skipped. `--quick` samples the data
so the whole run takes a few seconds.

GermEval 2018: Wiegand, Siegel, Ruppenhofer, "Overview of the GermEval 2018
Shared Task on the Identification of Offensive Language", Proceedings of
GermEval 2018, Vienna (CC BY 4.0, uds-lsv/GermEval-2018-Data). IBM care:
IBM/twitter-customer-care-document-prediction (Apache-2.0). Both are read
in place, never copied.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.checks import (  # noqa: E402
    check_inbound,
    check_outbound,
    load_rules,
    mask_personal_data,
)
from backend.checks.language import languages_for  # noqa: E402
from backend.checks.quality import (  # noqa: E402
    Counts,
    evaluate,
    evaluate_germeval,
    germeval_held_out,
    load_germeval,
    load_labelled,
)
from backend.checks.tone import check_tone, customer_upset, feelings  # noqa: E402
from backend.listening import sentiment as senti  # noqa: E402
from backend.listening.language import detect_text  # noqa: E402
from backend.listening.matching import match  # noqa: E402
from backend.listening.rules import load_listening, load_triage  # noqa: E402
from backend.listening.text import lower  # noqa: E402
from backend.model import Author, InboundPost  # noqa: E402

UPSET_SENTIMENT = (
    -0.25
)  # the composer's rule before tone.yaml apology.upset: any sentiment this low
EXAMPLES = 3

# What each brand in the IBM data calls itself besides its support handle:
# the per-brand listening configuration (names, other handles of the brand).
BRAND_NAMES = {
    "RockstarSupport": [
        "Rockstar",
        "Rockstar Games",
        "RockstarGames",
        "GTA",
        "GTA Online",
        "Red Dead",
    ],
    "Google": ["Google", "Gmail", "Google Pay", "Pixel", "Chromebook"],
    "MojangSupport": ["Mojang", "Minecraft"],
    "TeamYouTube": ["YouTube", "YT"],
    "AppleSupport": ["Apple", "iPhone", "iPad", "iCloud", "Mac", "MacBook", "iOS", "Apple Music"],
    "AdobeCare": ["Adobe", "Photoshop", "Lightroom", "Acrobat", "Premiere", "Creative Cloud"],
    "zoom_us": ["Zoom"],
    "AskeBay": ["eBay"],
    "DropboxSupport": ["Dropbox"],
    "hulu_support": ["Hulu"],
    "YahooCare": ["Yahoo", "Yahoo Mail"],
    "AskPlayStation": ["PlayStation", "PSN", "PS4", "PS5"],
    "SpotifyCares": ["Spotify"],
    "Ask_WellsFargo": ["Wells Fargo", "WellsFargo"],
    "GoDaddyHelp": ["GoDaddy"],
    "TMobileHelp": ["T-Mobile", "TMobile"],
    "ChaseSupport": ["Chase"],
    "SouthwestAir": ["Southwest"],
    "AmazonHelp": ["Amazon", "Prime"],
    "MicrosoftHelps": ["Microsoft", "Windows", "Outlook", "Office"],
    "Delta": ["Delta"],
    "XboxSupport": ["Xbox"],
    "Ask_Spectrum": ["Spectrum"],
    "Uber_Support": ["Uber"],
}
# Other accounts of the same brand that customers tag instead of the support handle.
BRAND_ACCOUNTS = {
    "RockstarSupport": ["RockstarGames"],
    "Google": ["GooglePlay", "gmail", "GoogleSupport", "madebygoogle", "googlechrome", "Android"],
    "MojangSupport": ["Mojang", "Minecraft"],
    "TeamYouTube": ["YouTube", "YTCreators"],
    "AppleSupport": ["Apple"],
    "AdobeCare": ["Adobe", "Photoshop", "Lightroom"],
    "zoom_us": ["zoom"],
    "AskeBay": ["eBay"],
    "DropboxSupport": ["Dropbox"],
    "hulu_support": ["hulu"],
    "YahooCare": ["Yahoo", "YahooMail"],
    "AskPlayStation": ["PlayStation"],
    "SpotifyCares": ["Spotify"],
    "Ask_WellsFargo": ["WellsFargo"],
    "GoDaddyHelp": ["GoDaddy"],
    "TMobileHelp": ["TMobile", "JohnLegere"],
    "ChaseSupport": ["Chase"],
    "SouthwestAir": [],
    "AmazonHelp": ["amazon"],
    "MicrosoftHelps": ["Microsoft", "Windows", "Outlook"],
    "Delta": ["DeltaAssist"],
    "XboxSupport": ["Xbox"],
    "Ask_Spectrum": ["GetSpectrum"],
    "Uber_Support": ["Uber"],
}


def default_data() -> Path:
    """../shared/data from the repo root; a worktree one level deeper finds it further up."""
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / "shared" / "data").exists():
            return base / "shared" / "data"
    return ROOT.parent / "shared" / "data"


def row(name: str, c: Counts) -> str:
    return f"{name:16} {c.n:4} {c.tp:4} {c.fp:4} {c.fn:4} {c.precision:9.3f} {c.recall:7.3f} {c.f1:6.3f}"


HEADER = (
    f"{'check':16} {'n':>4} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>9} {'recall':>7} {'F1':>6}"
)


def timing(label: str, times: list[float]) -> str:
    times = sorted(times)
    return (
        f"{label}: median {statistics.median(times):.0f} µs, p99 "
        f"{times[int(len(times) * 0.99)]:.0f} µs, max {times[-1]:.0f} µs over {len(times)} checks"
    )


def labelled_section(rules, labelled: Path, quick: bool) -> None:
    items, context = load_labelled(labelled)
    print(f"Labelled set: {len(items)} items ({labelled.relative_to(ROOT)})")
    print("(abusive = routed to house rules; abusive~ = flagged at either operating point)")
    print(HEADER)
    for check, c in evaluate(rules, items, context).items():
        print(row(check, c))
    outbound = [i for i in items if i["direction"] == "outbound"]
    times = []
    for _ in range(1 if quick else 5):
        for item in outbound:
            t0 = time.perf_counter()
            check_outbound(
                rules,
                item["text"],
                channel=item["channel"],
                language=item["language"],
                customer_name=item.get("customer_name"),
                customer_upset=item.get("customer_upset", False),
                recent_replies=context["recent_replies"],
                templates=context["templates"],
            )
            times.append((time.perf_counter() - t0) * 1e6)
    print(
        "\n"
        + timing(
            f"One outbound reply ({len(context['recent_replies'])} recent replies, "
            f"{len(context['templates'])} templates)",
            times,
        )
    )


def germeval_section(rules, path: Path, quick: bool) -> None:
    if not path.exists():
        print(f"\nGermEval 2018: {path} not found, skipped")
        return
    rows = load_germeval(path)
    if quick:
        rows = rows[::5]
    held = sum(germeval_held_out(t) for t, _ in rows)
    print("\nGermEval 2018 (Wiegand, Siegel, Ruppenhofer 2018), German conduct check vs OFFENSE")
    print(
        "held-out: old 'test' half, 2nd SHA-256 byte < 154 (~30 %); never fitted or tuned on "
        "(training/train_conduct.py)"
    )
    print(
        f"training part {len(rows) - held}, held-out {held}"
        + (" (quick: every 5th)" if quick else "")
    )
    print(
        f"{'part / point':16} {'n':>4} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>9} {'recall':>7} {'F1':>6}"
    )
    for part, is_held in (("train", False), ("held-out", True)):
        for point, c in evaluate_germeval(rules, rows, is_held).items():
            print(row(f"{part} {point}", c))
    unseen = [t for t, _ in rows if germeval_held_out(t)]
    times = []
    for text in unseen:
        t0 = time.perf_counter()
        check_inbound(rules, text, channel="dm", language="de")
        times.append((time.perf_counter() - t0) * 1e6)
    print("\n" + timing("One inbound German post (held-out tweets, conduct check)", times))


def _short(rules, text: str, limit: int = 110) -> str:
    text = " ".join(mask_personal_data(rules, text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _upset(text: str) -> bool:
    lowered = lower(text)
    lex = senti.lexicon("en")
    if lex is None:
        return False
    return senti.polarity(lex, senti.words(lowered), lowered.count("!")) <= UPSET_SENTIMENT


# Each brand's own e-mail domains: the per-brand privacy configuration
# (privacy.yaml brand_contacts.domains) for the agents' replies.
BRAND_DOMAINS = {
    "Ask_WellsFargo": ["wellsfargo.com"],
    "ChaseSupport": ["chase.com"],
    "AppleSupport": ["apple.com"],
    "Google": ["google.com"],
    "AskeBay": ["ebay.com"],
    "AmazonHelp": ["amazon.com"],
    "MicrosoftHelps": ["microsoft.com"],
    "TeamYouTube": ["youtube.com"],
    "YahooCare": ["yahoo.com"],
}


def care_section(rules, path: Path, quick: bool) -> None:
    if not path.exists():
        print(f"\nIBM care conversations: {path} not found, skipped")
        return
    dialogs = json.loads(path.read_text(encoding="utf-8"))
    if quick:
        dialogs = dialogs[::5]
    # Every agent reply with the conversation before it, in time order. The
    # closing reply (agentURL) has no datetime: its tweet ID carries the time.
    replies = []
    customer_posts = []
    for d in dialogs:
        turns = sorted(d["dialogContent"], key=_when)
        earlier: list[str] = []
        customer: list[str] = []
        brand = d["dialogHeader"]["company"]
        for t in turns:
            if "agent" in t:
                replies.append((t["message"], list(earlier), list(customer), _when(t), brand))
                earlier.append(t["message"])
            else:
                customer.append(t["message"])
                customer_posts.append(t["message"])
        closing = d.get("agentURL", {})
        if closing.get("url_utterance"):
            replies.append((closing["url_utterance"], earlier, customer, _when(closing), brand))
    replies.sort(key=lambda r: r[3])
    fired: dict[str, list[tuple[str, str, dict]]] = defaultdict(list)
    kinds: dict[str, str] = {}
    upset_count = upset_by_text = no_apology_by_sentiment = 0
    # Each brand's team sees its own recent replies, as the composer does.
    recent: dict[str, list[str]] = defaultdict(list)
    languages = Counter()
    per_brand = {
        brand: dataclasses.replace(
            rules,
            privacy=dataclasses.replace(
                rules.privacy, brand_domains=rules.privacy.brand_domains + tuple(domains)
            ),
        )
        for brand, domains in BRAND_DOMAINS.items()
    }
    for text, earlier, customer, _, brand in replies:
        language = detect_text(customer[-1] if customer else text)
        languages[language] += 1
        # Upset as the composer decides today (the latest post's stored
        # sentiment), and as the check decides from the post itself
        # (customer_text: fault words like "error" do not count as feelings).
        upset = bool(customer) and _upset(customer[-1])
        upset_count += upset
        findings = check_outbound(
            per_brand.get(brand, rules),
            text,
            channel="public",
            language=language,
            recent_replies=recent[brand][-200:][::-1],
            earlier_replies=earlier,
            customer_text=customer[-1] if customer else None,
        )
        by_sentiment = check_tone(
            rules.tone,
            text,
            languages_for(language),
            customer_name=None,
            customer_upset=upset,
            earlier_replies=earlier,
        )
        upset_by_text += customer_upset(
            rules.tone.upset, customer[-1] if customer else "", languages_for(language)
        )
        if any(f.check == "no_apology" for f in by_sentiment):
            no_apology_by_sentiment += 1
        recent[brand].append(text)
        seen = set()
        for f in findings:
            if f.check in seen:
                continue
            seen.add(f.check)
            fired[f.check].append((text, customer[-1] if customer else "", f.detail))
            kinds[f.check] = f.kind
    n = len(replies)
    print(
        f"\nIBM Twitter customer care (ibm-care/dev.json): {len(dialogs)} conversations, "
        f"{n} real agent replies, checked as public replies (each brand's own e-mail "
        "domains configured, privacy.yaml brand_contacts.domains)"
    )
    print(
        f"(language detected from the customer's post: {dict(languages)}; customer upset: "
        f"{upset_by_text} by the post's feelings (tone.yaml apology.upset, as no_apology "
        f"below, as the composer decides it), {upset_count} by raw sentiment <= "
        f"{UPSET_SENTIMENT} (the composer's rule before), with which no_apology fires "
        f"{no_apology_by_sentiment} times "
        f"({no_apology_by_sentiment / max(len(replies), 1):.1%}); recent replies = the "
        "brand's 200 before it)"
    )
    print(f"{'check':16} {'kind':8} {'fires':>5} {'share':>6}")
    for check in (
        "personal_data",
        "service_number",
        "defensive",
        "negative",
        "blame",
        "shouting",
        "no_apology",
        "canned",
    ):
        hits = fired.get(check, [])
        print(f"{check:16} {kinds.get(check, '-'):8} {len(hits):5} {len(hits) / max(n, 1):6.1%}")
    for check, hits in sorted(fired.items()):
        if check in ("canned", "no_apology"):
            continue
        print(f"  {check} examples:")
        for text, _, _ in hits[:EXAMPLES]:
            print(f"    - {_short(rules, text)}")
    canned_breakdown(rules, fired.get("canned", []), replies)
    no_apology_breakdown(rules, fired.get("no_apology", []))

    # Inbound checks on the customers' own posts: how often they fire.
    inbound: dict[str, list[str]] = defaultdict(list)
    for text in customer_posts:
        language = detect_text(text)
        for check in sorted(
            {f.check for f in check_inbound(rules, text, channel="public", language=language)}
        ):
            inbound[check].append(text)
    print(f"\nInbound checks on the customers' {len(customer_posts)} public posts:")
    for check in ("personal_data", "abusive", "possibly_abusive", "threat"):
        hits = inbound.get(check, [])
        print(f"{check:16} {len(hits):5} {len(hits) / max(len(customer_posts), 1):6.1%}")
    for check in ("abusive", "possibly_abusive", "threat"):
        for text in inbound.get(check, [])[:EXAMPLES]:
            print(f"    {check}: {_short(rules, text)}")

    listening_recall(dialogs)


def _when(turn: dict) -> str:
    """A turn's time as sortable text: its datetime, else its tweet ID's
    (Twitter IDs carry milliseconds since 2010-11-04 in their top bits)."""
    if turn.get("datetime"):
        return turn["datetime"]
    ms = (int(turn.get("tweet_ID", 0)) >> 22) + 1288834974657
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def canned_breakdown(rules, hits: list[tuple[str, str, dict]], replies: list) -> None:
    """Why "canned" fired: a stock phrase, a template, or a near-copy of one of
    the brand's recent replies (which brands, how many distinct texts)."""
    by_source = Counter(d.get("source") for _, _, d in hits)
    print(f"  canned by reason: {dict(by_source)}")
    recent = [(t, d) for t, _, d in hits if d.get("source") == "recent"]
    brand_of = {r[0]: r[4] for r in replies}
    per_brand = Counter(brand_of.get(t, "?") for t, _ in recent)
    share = {b: f"{c}/{sum(1 for r in replies if r[4] == b)}" for b, c in per_brand.most_common(6)}
    print(f"  near-copies of the brand's own recent replies, by brand: {share}")
    for source in ("recent", "stock", "template"):
        for text, _, d in [h for h in hits if h[2].get("source") == source][:EXAMPLES]:
            why = (
                d.get("phrase")
                or f"{d.get('similarity')} like: {_short(rules, d['resembles'], 60)}"
            )
            print(f"    - [{source}] {_short(rules, text, 90)}  ({why})")


def no_apology_breakdown(rules, hits: list[tuple[str, str, dict]]) -> None:
    """Who "no_apology" fired for: how upset the customer's latest post reads
    (its feelings, fault words not counted, as the check reads it)."""
    bands: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for text, customer, _ in hits:
        score = feelings(rules.tone.upset, customer, languages_for(detect_text(customer)))
        band = "very negative (<= -0.5)" if score <= -0.5 else "negative (-0.5..-0.25]"
        bands[band].append((text, customer))
    counts = ", ".join(f"{b}: {len(v)}" for b, v in sorted(bands.items()))
    print(f"  no_apology by how upset the customer's post reads: {{{counts}}}")
    for band, pairs in sorted(bands.items()):
        for text, customer in pairs[:EXAMPLES]:
            print(f"    - [{band}] customer: {_short(rules, customer, 80)}")
            print(f"        reply: {_short(rules, text, 90)}")


def listening_recall(dialogs: list[dict], *, brand_links: bool = True) -> None:
    """Share of conversations whose first customer post the brand's listening
    rules catch, with one listening.yaml per brand; and, as the false-match
    side, how many other brands' first posts each brand's rules match."""
    triage_ok = load_triage(ROOT / "rules" / "triage.yaml") is not None
    by_brand: dict[str, list[str]] = defaultdict(list)
    for d in dialogs:
        turns = sorted(d["dialogContent"], key=lambda t: t.get("datetime", ""))
        first = next((t["message"] for t in turns if "agent" not in t), None)
        if first is not None:
            by_brand[d["dialogHeader"]["company"]].append(first)
    caught = total = 0
    missed: list[tuple[str, str]] = []
    how = Counter()
    others: list[tuple[str, str, tuple[str, ...]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        brand_rules = {}
        for brand in sorted(by_brand):
            names = BRAND_NAMES.get(brand, [brand])
            accounts = [brand, *BRAND_ACCOUNTS.get(brand, [])]
            in_tags = {"handles": "prefix", "hashtags": "prefix"}
            if brand_links:
                in_tags["links"] = "prefix"
            doc = {
                "brand": names[0],
                "accounts": {"twitter": accounts},
                "hashtags": [],
                "names": names[:1],
                "aliases": names[1:],
                "names_in_tags": in_tags,
                "languages": ["en", "de"],
            }
            path = Path(tmp) / f"{brand}.yaml"
            path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML
            brand_rules[brand] = load_listening(path)
    posts_of = [(brand, text) for brand, posts in sorted(by_brand.items()) for text in posts]
    for brand, rules in brand_rules.items():
        for i, (owner, text) in enumerate(posts_of):
            post = InboundPost(
                "twitter",
                f"{owner}-{i}",
                Author("c", "customer", "", 0),
                text,
                datetime(2020, 1, 1, tzinfo=UTC),
            )
            m = match(rules, post)
            hit = m is not None and not m.ours
            if owner == brand:
                total += 1
                if hit:
                    caught += 1
                    assert m is not None
                    how[m.how[0]] += 1
                else:
                    missed.append((brand, text))
            elif hit:
                assert m is not None
                others.append((brand, text, m.terms))
    print(
        f"\nListening recall on the customers' first posts (one listening.yaml per brand, "
        f"names in handles, hashtags{' and link hosts' if brand_links else ''} by prefix, "
        f"triage rules {'ok' if triage_ok else 'missing'}): {caught}/{total} = "
        f"{caught / max(total, 1):.1%}  (strongest match: {dict(how)})"
    )
    for brand, text in missed:
        print(f"    missed ({brand}): {' '.join(text.split())[:110]}")
    print(
        f"Other brands' first posts matched by a brand's rules: {len(others)} of "
        f"{len(brand_rules) * total - total} pairs (mostly posts naming two brands)"
    )
    for brand, text, terms in others[:EXAMPLES]:
        print(f"    {brand} {list(terms)}: {' '.join(text.split())[:90]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=ROOT / "rules")
    parser.add_argument("--labelled", type=Path, default=ROOT / "tests/data/rules_labelled.jsonl")
    parser.add_argument("--data", type=Path, default=default_data(), help="../shared/data")
    parser.add_argument("--quick", action="store_true", help="sample the data: a few seconds")
    args = parser.parse_args()
    t0 = time.perf_counter()
    rules = load_rules(args.rules)
    labelled_section(rules, args.labelled, args.quick)
    germeval_section(rules, args.data / "germeval2018" / "germeval2018.training.txt", args.quick)
    care_section(rules, args.data / "ibm-care" / "dev.json", args.quick)
    print(f"\n({time.perf_counter() - t0:.1f} s{', quick' if args.quick else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
