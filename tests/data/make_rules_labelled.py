# Writes rules_labelled.jsonl and team_context.json (run from the repo root).
# Texts are hand-written; IBANs and card numbers are generated valid from a
# seeded generator so the set is reproducible.
import json
import random

rng = random.Random(20261125)


def iban(country, bban, grouped=True):
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(digits) % 97
    raw = f"{country}{check:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4)) if grouped else raw


def card(prefix, length, sep=" "):
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    for d in range(10):
        n = body + str(d)
        tot = 0
        for i, ch in enumerate(reversed(n)):
            x = int(ch)
            if i % 2:
                x *= 2
                if x > 9:
                    x -= 9
            tot += x
        if tot % 10 == 0:
            break
    return sep.join(n[i : i + 4] for i in range(0, len(n), 4)) if sep is not None else n


def blz():  # German BBAN: 8-digit bank code + 10-digit account
    return "".join(str(rng.randrange(10)) for _ in range(18))


items = []


def O(text, exp="", lang="en", ch="public", name=None, upset=False):
    items.append(
        {
            "text": text,
            "channel": ch,
            "direction": "outbound",
            "language": lang,
            "customer_name": name,
            "customer_upset": upset,
            "expected": sorted(exp.split()),
        }
    )


def I(text, exp="", lang="en", ch="public"):
    items.append(
        {
            "text": text,
            "channel": ch,
            "direction": "inbound",
            "language": lang,
            "expected": sorted(exp.split()),
        }
    )


PD = "personal_data"

templates = [
    "Hi {name}, we're sorry to hear about this! Please send us a DM with your order number and we'll look into it right away.",
    "Thanks for reaching out, {name}! Our team is on it and we'll get back to you within 24 hours.",
    "Hi {name}, thanks for the kind words! We'll pass them on to the team.",
    "We're aware of the outage affecting the Acme app and are working on a fix. Updates at status.acme.example.",
    "Hallo {name}, das tut uns leid! Schreib uns bitte eine DM mit deiner Bestellnummer, dann schauen wir uns das sofort an.",
    "Danke für deine Nachricht, {name}! Wir kümmern uns darum und melden uns innerhalb von 24 Stunden.",
    "Wir wissen von der Störung der Acme-App und arbeiten an einer Lösung. Updates unter status.acme.example.",
    "Hi {name}, you can track your parcel any time under 'My orders' in the app. Let us know if it hasn't moved in 3 days!",
]
recent = [
    "Sorry about the wait, Priya! Your refund was approved today and should reach your account in 3-5 business days.",
    "Hi Tom, the new firmware for the Acme Kettle Pro fixes the blinking light. Update via the app under Settings > Device.",
    "Oh no, Lena — a cracked lid is not what you ordered. We've sent a replacement, it should arrive by Friday.",
    "Hey Sam, great question! The Acme Blender 3 parts are dishwasher safe, except the motor base of course.",
    "Hallo Jonas, die Rückerstattung ist heute rausgegangen und sollte in 3-5 Werktagen auf deinem Konto sein.",
    "Hi Marco, das Update für den Acme Wasserkocher behebt das Blinken. Einfach in der App unter Einstellungen > Gerät installieren.",
    "Liebe Sabine, danke für die Geduld! Dein Ersatzteil ist unterwegs und kommt voraussichtlich am Donnerstag.",
    "Thanks for flagging this, Ahmed. The discount code SPRING10 works again — sorry for the hiccup!",
    "Hi Chloe, our stores are open until 8pm on weekdays and 6pm on Saturdays.",
    "Hallo Fatma, in unseren Filialen kannst du Geräte ohne Kassenbon umtauschen, wenn du die Bestellnummer nennst.",
    "Sorry for the mix-up, Ben! The colour you got was a packing error on our side. A swap is on its way, keep the other one.",
    "Hey Julia, the Acme Toaster X has a 2-year warranty; just DM us a photo of the receipt and we'll sort it.",
    "Moin Kai, die Lieferzeiten nach Österreich liegen gerade bei 4-6 Werktagen, wir arbeiten daran.",
    "Hi Noor, happy to hear the espresso machine is back to normal! Enjoy your coffee.",
    "Hallo Ute, der Gutscheincode gilt leider nur im Onlineshop. Im Laden helfen dir die Kolleg:innen aber gern mit einem Rabatt.",
    "Good news, Dev: the app outage is over and all orders placed in the last hour went through.",
    "Hi Grace, we've passed your idea about a bigger water tank to our product team. Thanks for thinking along!",
    "Hallo Erik, danke für dein Lob! Wir geben es ans Team im Lager weiter, die freuen sich.",
    "Hi Olu, the courier tried to deliver yesterday; you can pick a new date through the link in your shipping email.",
    "Servus Anna, das Kabel vom Mixer gibt es als Ersatzteil im Onlineshop unter Zubehör.",
]
for _ in range(180):
    # filler recent replies so the bench sees a realistic history size
    recent.append(
        rng.choice(
            [
                "Hi {n}, thanks for your patience! Your order {o} has left our warehouse and is on its way.",
                "Hallo {n}, danke für deine Geduld! Deine Bestellung ist heute aus dem Lager raus.",
                "Sorry for the trouble, {n}. We've reset the app login on our side, could you try again?",
                "Hey {n}, glad we could help! Have a lovely weekend.",
                "Hallo {n}, wir haben dein Feedback an das Produktteam weitergegeben. Danke dir!",
                "Hi {n}, the {p} is back in stock online from Monday.",
                "Moin {n}, der {p} ist ab Montag wieder online verfügbar.",
            ]
        ).format(
            n=rng.choice(
                ["Alex", "Mia", "Luca", "Emma", "Noah", "Sofia", "Finn", "Lea", "Omar", "Zoe"]
            ),
            o=f"ACM-{rng.randrange(100000, 999999)}",
            p=rng.choice(["Kettle Pro", "Blender 3", "Toaster X", "Espresso One"]),
        )
    )
# NB: recent[20:] are fillers that repeat a few shapes; drafts below never copy them
# except where labelled canned.

# ---------------- outbound, public, English ----------------
O(
    "Hi Maya, sorry your kettle arrived dented! We'd love to fix this. Could you DM us a photo?",
    name="Maya Lopez",
    upset=True,
)
O("Hey Jordan, thanks so much for the shout-out! The team will be thrilled.", name="Jordan")
O(
    "As we already said, refunds take 5-7 business days. Please be patient.",
    "defensive no_apology no_name",
    name="Chris",
    upset=True,
)
O(
    "As mentioned in our DM, the replacement ships today. Thanks for bearing with us, Chris!",
    name="Chris",
)
O("As mentioned earlier in this thread, Priya, the store in Leeds reopens on Monday.", name="Priya")
O("You should have registered the warranty within 30 days.", "defensive")
O("You should've checked the size chart before ordering, honestly.", "defensive")
O("That's not our fault, the courier lost it.", "defensive")
O("This is not our responsibility. Please contact the courier.", "defensive")
O(
    "Sorry Dan, that really shouldn't have happened. We've asked the courier for a trace and will update you by noon.",
    name="Dan",
    upset=True,
)
O("Like I said, we do not offer refunds on opened items.", "defensive negative")
O("For the third time: the code only works online.", "defensive")
O("Please read our FAQ first before tagging us.", "defensive")
O("If you had read the instructions you'd know the filter needs rinsing.", "defensive blame")
O("Our terms clearly state that sale items can't be returned.", "defensive")
O("According to our terms, delivery can take up to 10 days.", "defensive")
O(
    "Hi Noah, per your request we've cancelled the order — you'll get a confirmation e-mail shortly.",
    name="Noah",
)
O("We are not responsible for delays caused by the weather.", "defensive")
O("There is nothing we can do about customs fees, sorry.", "defensive")
O(
    "Thanks Ella! We already shipped the part yesterday, so it should be with you tomorrow.",
    name="Ella",
)
O("We already said it in the post above: the sale ends Sunday.", "defensive")
O(
    "I can see we've already explained this before, so let me put it more clearly: the part ships on Monday.",
    "",
)
O("We have already explained this. The answer is no.", "defensive")
O("That is simply not possible.", "negative")
O(
    "Unfortunately we can't ship to the Canary Islands yet, but our partner shop does — here's the link: acme.example/partners",
    "",
)
O("Your request has been denied.", "negative")
O("No exceptions, sorry.", "negative")
O("That's company policy.", "negative")
O("This is our policy and we won't change it for one customer.", "negative")
O("It's impossible to change an order after dispatch.", "negative")
O("We can't help with that here, but our repair partner can: acme.example/repair", "")
O("That's your own mistake, the address was wrong.", "blame")
O("User error. Please hold the button for 5 seconds.", "blame")
O("You must have entered the wrong email address at checkout.", "blame")
O("You entered the wrong postcode, so the parcel went back.", "blame")
O("You didn't read the manual, the descaler goes in the tank.", "blame")
O(
    "Looks like the postcode got mixed up at checkout — happens easily with the autofill. We've corrected it and the parcel is on its way again.",
    "",
)
O("It was our mistake, Fiona. The wrong size was packed. A swap is on its way!", name="Fiona")
O("WE ARE WORKING ON IT. PLEASE STOP ASKING.", "shouting")
O("PLEASE READ THE PINNED POST!!!", "shouting")
O("Thanks for your patience!!! We're nearly there.", "shouting")
O("Hi Sara, the ACME FAQ has a section on this: acme.example/faq#returns", name="Sara")
O("Great news, Tom! Your DM reached us, we'll reply via DM in a minute.", name="Tom")
O("The NEW Kettle Pro is here! Pre-order now.", "")
O("Hi! We've just updated the tracking page for you.", "no_name", name="Kemal")
O("Hey there, thanks for waiting. The part is back in stock.", "no_name", name="Rosa Díaz")
O("Hi Rosa, thanks for waiting. The part is back in stock.", name="Rosa Díaz")
O("Hi @rosa_d, thanks for waiting — the part is back in stock.", name="rosa_d")
O("We fixed it.", "no_apology no_name", name="Ivan", upset=True)
O("We apologise for the delay, Ivan. The fix is live now.", name="Ivan", upset=True)
O(
    "Our apologies, Kim — the app was down for 20 minutes. Everything works again.",
    name="Kim",
    upset=True,
)
O(
    "We understand your frustration, Leo. A technician will call you tomorrow.",
    name="Leo",
    upset=True,
)
O("Thanks Leo, a technician will call you tomorrow.", "no_apology", name="Leo", upset=True)
O(
    "Hey Leo, we regret the mess with your booking. A technician will call tomorrow.",
    name="Leo",
    upset=True,
)
O(
    "Hi Priya, we're sorry to hear about this! Please send us a DM with your order number and we'll look into it right away.",
    "canned",
    name="Priya",
)
O(
    "Hi Omar, we're sorry to hear about this! Please send us a DM with your order number and we'll look into it right away.",
    "canned",
    name="Omar",
)
O(
    "Hi Omar, we're so sorry to hear about this! Please send us a DM with your order number and we'll look into it right away.",
    "canned",
    name="Omar",
)
O(
    "Hi Omar, sorry to hear the blender stopped after two days — that's not how it should be. Please send us a DM with your order number and we'll look into it right away.",
    "",
    name="Omar",
)
O(
    "Thanks for reaching out, Jess! Our team is on it and we'll get back to you within 24 hours.",
    "canned",
    name="Jess",
)
O(
    "Thanks for reaching out, Jess! The missing screws are a known packing issue this week; our team is on it and we'll post you a set today.",
    "",
    name="Jess",
)
O("Hi Wu, thanks for the kind words! We'll pass them on to the team.", "canned", name="Wu")
O(
    "Hi Wu, thank you for the kind words about Marta in the Bristol store — we'll make sure she hears it!",
    "",
    name="Wu",
)
O(
    "We're aware of the outage affecting the Acme app and are working on a fix. Updates at status.acme.example.",
    "canned",
)
O(
    "We're aware of the outage affecting the Acme app and working on a fix — sorry, Mo, we know you need it for your orders today. Updates at status.acme.example.",
    "",
    name="Mo",
)
O(
    "Hi Lou, you can track your parcel any time under 'My orders' in the app. Let us know if it hasn't moved in 3 days!",
    "canned",
    name="Lou",
)
O(
    "Sorry about the wait, Hana! Your refund was approved today and should reach your account in 3-5 business days.",
    "canned",
    name="Hana",
)
O(
    "Sorry about the wait, Hana! Your refund was approved today and should reach your card in 3-5 business days.",
    "canned",
    name="Hana",
)
O(
    "Hana, your refund was approved this morning — it usually shows up on a card statement within a week. Sorry it took this long!",
    "",
    name="Hana",
)
O(
    "Oh no, Rick — a cracked lid is not what you ordered. We've sent a replacement, it should arrive by Friday.",
    "canned",
    name="Rick",
)
O(
    "Oh no, Rick, a broken handle on day one! We've sent a new kettle, it should be with you by Friday.",
    "",
    name="Rick",
)
O(
    "Hey Jan, great question! The Acme Blender 3 parts are dishwasher safe, except the motor base of course.",
    "canned",
    name="Jan",
)
O("Hi Lisa, our stores are open until 8pm on weekdays and 6pm on Saturdays.", "canned", name="Lisa")
O("Hi Lisa, the Manchester store is open until 9pm on Thursdays.", "", name="Lisa")
O("Thanks!", "")
O("Thank you, enjoy!", "")
O(
    "Good news, Pat: the app outage is over and all orders placed in the last hour went through.",
    "canned",
    name="Pat",
)
O(
    "Hi Greg, we've passed your idea about a quieter motor to our product team. Thanks for thinking along!",
    "",
    name="Greg",
)
O("Hi Nora, please DM us your IBAN and we'll refund the difference.", "", name="Nora")
O(f"Hi Nora, we'll refund to {iban('DE', blz())} as requested.", PD, name="Nora")
O(f"Refund sent to IBAN {iban('GB', 'NWBK60161331926819')}, Ben.", PD, name="Ben")
O(
    f"Hi Ben, we've noted the account {iban('NL', 'ABNA0417164300', grouped=False)} for the refund.",
    PD,
    name="Ben",
)
O(f"Card {card('4', 16)} was charged twice — we've reversed one charge.", PD)
O(f"We refunded the card ending in {card('5', 16)[-4:]}, Zara.", "", name="Zara")
O("Hi Zara, we'll e-mail you at zara.k@example.com with the label.", PD, name="Zara")
O("Write to care@acme.example and we'll pick it up there.", "")
O("Hi Paul, we called you on +44 7700 900123 but couldn't reach you.", PD, name="Paul")
O("Hi Paul, our hotline is open 8am-8pm, or DM us and we'll call you back.", name="Paul")
O("Hi Ana, order ACM-482913 left the warehouse this morning.", PD, name="Ana")
O(
    "Hi Ana, your order left the warehouse this morning — check 'My orders' for the tracking link.",
    name="Ana",
)
O("Your customer number KD40392211 is now linked to the new address, Tim.", PD, name="Tim")
O(
    "Hi Tim, parcel tracking number JJD000390007727433 — the courier expects Thursday.",
    "",
    name="Tim",
)
O("Hi Tim, the Kettle Pro (model 4010-2237) is compatible with the 2019 base.", "", name="Tim")
O("Hi Yusuf, the price is £1,299.00 until 31.12.2025, then it goes up.", "", name="Yusuf")
O("Hi Yusuf, stores in 10115 Berlin and 80331 München have it in stock.", "", name="Yusuf")
O("Hi Ola, version 2.14.3 of the app fixes it. Released 2025-11-20 at 14:30.", "", name="Ola")
O("Hi Sven, call 0800 123 4567 (free) and say you were sent by us.", "", name="Sven")

# ---------------- outbound, public, German ----------------
O(
    "Hallo Jana, das tut uns leid! Wir schicken dir sofort ein neues Netzteil.",
    lang="de",
    name="Jana",
    upset=True,
)
O("Wie bereits erwähnt, dauert die Rückerstattung 5-7 Werktage.", "defensive", lang="de")
O("Wie schon gesagt: Der Gutschein gilt nur online.", "defensive", lang="de")
O("Wie wir Ihnen bereits mitgeteilt haben, ist der Artikel ausverkauft.", "defensive", lang="de")
O(
    "Wie besprochen schicken wir dir heute das Ersatzteil, Moritz. Danke für deine Geduld!",
    lang="de",
    name="Moritz",
)
O("Wie in der DM erwähnt, ist der Ersatz heute rausgegangen, Moritz!", lang="de", name="Moritz")
O(
    "Laut unseren AGB ist ein Umtausch nach 30 Tagen ausgeschlossen.",
    "defensive negative",
    lang="de",
)
O("Gemäß unseren AGB können reduzierte Artikel nicht zurückgegeben werden.", "defensive", lang="de")
O(
    "Unsere AGB findest du hier: acme.example/agb – der Abschnitt zum Umtausch ist ganz oben.",
    lang="de",
)
O("Das ist nicht unsere Schuld, der Paketdienst hat das Paket verloren.", "defensive", lang="de")
O("Das ist nicht unser Problem, wenden Sie sich an DHL.", "defensive", lang="de")
O("Dafür sind wir nicht verantwortlich.", "defensive", lang="de")
O("Da können wir nichts machen.", "defensive", lang="de")
O("Sie hätten eben vorher die Größentabelle lesen müssen.", "defensive", lang="de")
O("Zum wiederholten Mal: Die App braucht Android 10 oder neuer.", "defensive", lang="de")
O("Haben Sie unsere AGB nicht gelesen?", "defensive", lang="de")
O("Lesen Sie bitte einfach unsere FAQ.", "defensive", lang="de")
O(
    "Schau gern in unsere FAQ, da ist das Entkalken Schritt für Schritt erklärt: acme.example/faq",
    lang="de",
)
O("Das ist leider nicht möglich.", "negative", lang="de")
O("Das geht leider nicht.", "negative", lang="de")
O("Wir können Ihnen da leider nicht helfen.", "negative", lang="de")
O("Ihre Reklamation wurde abgelehnt.", "negative", lang="de")
O("Keine Ausnahmen.", "negative", lang="de")
O(
    "Leider liefern wir noch nicht in die Schweiz, aber unser Partnershop schon: acme.example/partner",
    lang="de",
)
O(
    "Ein Umtausch ist bis 30 Tage nach Kauf möglich, danach helfen wir gern mit einer Reparatur.",
    lang="de",
)
O("Das ist Ihr eigener Fehler, die Adresse war falsch.", "blame", lang="de")
O("Sie haben wohl die falsche Postleitzahl angegeben.", "blame", lang="de")
O("Sie haben vergessen, den Wassertank einzusetzen.", "blame", lang="de")
O("Ein Bedienfehler. Bitte die Taste 5 Sekunden halten.", "blame", lang="de")
O(
    "Da ist bei der Adresse etwas durcheinandergeraten – passiert mit der Autovervollständigung schnell. Wir haben es korrigiert.",
    lang="de",
)
O(
    "Das war unser Fehler, Tobias. Wir schicken die richtige Größe gleich los.",
    lang="de",
    name="Tobias",
)
O("BITTE LESEN SIE DEN ANGEPINNTEN BEITRAG.", "shouting", lang="de")
O("Wir arbeiten dran!!!!", "shouting", lang="de")
O("Die neue ACME App ist da – mit Dunkelmodus!", lang="de")
O("Laut DHL kommt das Paket morgen, Petra.", lang="de", name="Petra")
O("Hallo! Das Paket kommt morgen.", "no_name", lang="de", name="Petra Lang")
O("Hallo Petra, das Paket kommt morgen.", "no_apology", lang="de", name="Petra Lang", upset=True)
O(
    "Hallo Petra, entschuldige bitte die Verspätung! Das Paket kommt morgen.",
    lang="de",
    name="Petra Lang",
    upset=True,
)
O(
    "Petra, es tut uns wirklich leid, dass du so lange warten musstest. Das Paket kommt morgen.",
    lang="de",
    name="Petra Lang",
    upset=True,
)
O("Sorry, Petra! Das Paket ist morgen bei dir.", lang="de", name="Petra", upset=True)
O(
    "Wir bedauern die Verzögerung sehr, Herr Yilmaz. Der Techniker kommt am Montag.",
    lang="de",
    name="Yilmaz",
    upset=True,
)
O("Der Techniker kommt am Montag.", "no_apology", lang="de", upset=True)
O(
    "Hallo Deniz, das tut uns leid! Schreib uns bitte eine DM mit deiner Bestellnummer, dann schauen wir uns das sofort an.",
    "canned",
    lang="de",
    name="Deniz",
)
O(
    "Hallo Deniz, das tut uns leid! Schreib uns bitte eine DM mit deiner Bestellnummer, dann schauen wir uns das gleich an.",
    "canned",
    lang="de",
    name="Deniz",
)
O(
    "Hallo Deniz, ein Riss im Glaskrug nach einer Woche? Das tut uns leid! Schreib uns bitte eine DM mit deiner Bestellnummer und einem Foto, dann schicken wir Ersatz.",
    lang="de",
    name="Deniz",
)
O(
    "Danke für deine Nachricht, Carla! Wir kümmern uns darum und melden uns innerhalb von 24 Stunden.",
    "canned",
    lang="de",
    name="Carla",
)
O(
    "Danke für deine Nachricht, Carla! Der fehlende Deckel ist ein bekanntes Problem dieser Woche, wir schicken ihn dir heute per Post.",
    lang="de",
    name="Carla",
)
O(
    "Wir wissen von der Störung der Acme-App und arbeiten an einer Lösung. Updates unter status.acme.example.",
    "canned",
    lang="de",
)
O(
    "Hallo Lukas, die Rückerstattung ist heute rausgegangen und sollte in 3-5 Werktagen auf deinem Konto sein.",
    "canned",
    lang="de",
    name="Lukas",
)
O(
    "Lukas, deine Rückerstattung ist seit heute Morgen unterwegs – bei Kreditkarten dauert es meist eine Woche.",
    lang="de",
    name="Lukas",
)
O(
    "Hi Emil, das Update für den Acme Wasserkocher behebt das Blinken. Einfach in der App unter Einstellungen > Gerät installieren.",
    "canned",
    lang="de",
    name="Emil",
)
O(
    "Liebe Greta, danke für die Geduld! Dein Ersatzteil ist unterwegs und kommt voraussichtlich am Donnerstag.",
    "canned",
    lang="de",
    name="Greta",
)
O(
    "Liebe Greta, danke, dass du so geduldig warst. Die Dichtung ist heute rausgegangen, Donnerstag sollte sie da sein.",
    lang="de",
    name="Greta",
)
O("Danke dir!", lang="de")
O(
    "Hallo Uwe, in unseren Filialen kannst du Geräte ohne Kassenbon umtauschen, wenn du die Bestellnummer nennst.",
    "canned",
    lang="de",
    name="Uwe",
)
O(f"Hallo Jana, wir überweisen auf {iban('DE', blz())}.", PD, lang="de", name="Jana")
O(f"Erstattung geht an {iban('AT', '1904300234573201')}, Michael.", PD, lang="de", name="Michael")
O(
    f"Hallo Nils, Konto {iban('CH', '0076201162385295' + '7')} ist hinterlegt.",
    PD,
    lang="de",
    name="Nils",
)
O(
    "Hallo Nils, schick uns deine IBAN bitte per DM, dann überweisen wir den Betrag.",
    lang="de",
    name="Nils",
)
O("Hallo Nils, die Erstattung über 49,99 € ist am 03.12.2025 rausgegangen.", lang="de", name="Nils")
O("Hallo Sophie, wir haben dir an sophie.berg@web.de geschrieben.", PD, lang="de", name="Sophie")
O("Hallo Sophie, wir rufen dich unter 0151 23456789 zurück.", PD, lang="de", name="Sophie")
O("Hallo Sophie, ruf uns gern unter 030/12345678 an.", PD, lang="de", name="Sophie")
O("Hallo Sophie, unsere Hotline erreichst du Mo–Fr von 8 bis 20 Uhr.", lang="de", name="Sophie")
O("Hallo Can, deine Bestellung ACM-774120 ist unterwegs.", PD, lang="de", name="Can")
O(
    "Hallo Can, deine Kundennummer KD 19283746 ist jetzt mit der neuen Adresse verknüpft.",
    PD,
    lang="de",
    name="Can",
)
O("Hallo Can, Sendungsnummer 0034 0434 1610 9404 2557 – DHL liefert morgen.", lang="de", name="Can")
O("Hallo Can, der Akku (Artikel 4006-381-333) passt auch ins ältere Modell.", lang="de", name="Can")
O("Hallo Can, die Filiale in 50667 Köln hat ihn vorrätig, ab 10:00 Uhr.", lang="de", name="Can")
O(
    f"Karte {card('5', 16)} wurde doppelt belastet, Ida – eine Buchung ist storniert.",
    PD,
    lang="de",
    name="Ida",
)
O(
    "Hallo Ida, die Karte mit Endung 4471 wurde belastet, die Stornierung ist unterwegs.",
    lang="de",
    name="Ida",
)

# ---------------- outbound, DM (personal data allowed) ----------------
O(
    f"Hi Nora, we'll refund to {iban('DE', blz())} — can you confirm that's right?",
    ch="dm",
    name="Nora",
)
O("Hi Zara, the returns label goes to zara.k@example.com within the hour.", ch="dm", name="Zara")
O("Hi Ana, order ACM-482913 is with the courier now.", ch="dm", name="Ana")
O("Hallo Sophie, wir rufen dich morgen unter 0151 23456789 an.", lang="de", ch="dm", name="Sophie")
O(f"Hallo Ida, die Karte {card('4', 16)} haben wir entfernt.", lang="de", ch="dm", name="Ida")
O("As we already said, the refund takes a week.", "defensive", ch="dm")
O("Wie bereits erwähnt, kommt der Techniker am Montag.", "defensive", lang="de", ch="dm")
O(
    "Hi Ola, thanks for the details, the courier will collect the old unit on Tuesday.",
    ch="dm",
    name="Ola",
)
O(
    "Hallo Mara, vielen Dank! Wir haben die Daten und melden uns morgen.",
    lang="de",
    ch="dm",
    name="Mara",
)
O("You should have kept the receipt.", "defensive", ch="dm")
O(
    "Hi Priya, we're sorry to hear about this! Please send us a DM with your order number and we'll look into it right away.",
    "canned",
    ch="dm",
    name="Priya",
)
O("Your order number is ACM-100200 and the customer number KD55512345, Jo.", ch="dm", name="Jo")

# ---------------- outbound, language unknown ----------------
O("Wie bereits erwähnt, the store reopens Monday.", "defensive", lang=None)
O("As we already explained, das Angebot gilt nur online.", "defensive", lang=None)
O("Thanks Rui! Danke dir!", lang=None, name="Rui")

# ---------------- inbound, public, English ----------------
I("@acme my kettle died after 2 weeks, not impressed")
I("@acme third time I'm asking. WHERE IS MY ORDER")
I("@acme this is fucking ridiculous, 3 weeks and no parcel")
I("@acme great job acme, 3 weeks for a parcel 👏👏 truly world class")
I("@acme your app is garbage and your support is useless")
I("@acme you are incompetent, period.")
I("@acme useless company, never again")
I("@acme you idiots shipped the wrong colour AGAIN", "abusive")
I("@acme your staff are a bunch of morons", "abusive")
I("@acme fuck you and your overpriced junk", "abusive")
I("@acme stfu with your ads", "abusive")
I("@acme shut the fuck up already", "abusive")
I("@acme the guy in your Leeds store is a total asshole", "abusive")
I("@acme you're a bunch of clowns", "abusive")
I("@acme I will find you and hurt you", "abusive")
I("@acme kys", "abusive")
I("@acme hope you all die in a fire", "abusive")
I(
    "@acme hire fewer immigrants and more people who can read. send them back to their own country",
    "abusive",
)
I("@acme your CEO is a piece of shit", "abusive")
I("@acme dumb bitch on your hotline hung up on me", "abusive")
I("@acme honestly feel like an idiot for buying the extended warranty")
I("@acme I was so stupid, I forgot to press start 🙈 all good now")
I("@acme someone called your staff idiots in the replies, that's not ok, they were lovely")
I("@acme the kettle is a total scam, want my money back")
I("@acme worst customer service ever. absolute joke.")
I("@acme who designs these lids, a toddler?")
I("@acme this blender is a piece of junk")
I("@acme damn thing broke again, what the hell")
I("@acme you people are scumbags, stealing money from pensioners", "abusive")
I("@acme scum company, scum people", "abusive")
I("@acme go fuck yourself", "abusive")
I("@acme are you retarded? the box said 2 litres", "abusive")
I(f"@acme you charged me twice, my IBAN is {iban('GB', 'NWBK60161331926819')} refund NOW", PD)
I(f"@acme refund to {iban('DE', blz(), grouped=False)} please", PD)
I(f"@acme this is my card {card('4', 16)} why was it declined??", PD)
I(f"@acme card {card('37', 15, sep='')} charged twice", PD)
I("@acme my order is ACM-339201, where is it?", PD)
I("@acme order #ACM339201 still not here", PD)
I("@acme email me at tom.baker77@gmail.com I'm done waiting", PD)
I("@acme call me on +44 7911 123456 today", PD)
I("@acme call me: (555) 123-4567", PD)
I("@acme my tracking number 1Z999AA10123456784 says delivered, it wasn't")
I("@acme order placed 12.11.2025, paid £149.99, nothing since")
I("@acme it's the 4010-2237 model, bought in 2021")
I("@acme IBAN changes in your app never save, super annoying")
I("@acme DE is listed as not supported in the app, why?")
I("@acme my card got declined at checkout twice, can you look?")
I("@acme the serial on the base is 4485 2937 0012 which one is that?")
I("@acme why does your hotline 0800 number not work from abroad?")
I("@acme my kid asked why the robot vacuum is so dumb lol, it keeps hitting the wall")
I("@acme the new kettle is a beauty, well done")
I("@acme thank you Marta from the Bristol store, she was brilliant")
I("@acme do you ship to Norway?")
I("@acme 'as mentioned' my ass, nobody mentioned anything")
I("@acme the idiot-proof setup guide still confused me lol")
I("@acme retweeting because you guys deserve a medal for that reply")
I("@acme pathetic. three weeks.")
I("@acme useless clowns, the lot of you", "abusive")
I("@acme I hope they fire whoever designed this app")
I("@acme this is killing me, 4 hours on hold")
I("@acme I'll kill for a working dishwasher right now")
I("@acme my mate says your customer care is full of muppets. he's not wrong", "abusive")
I("@acme f*ck you acme", "abusive")
I(f"@acme refund to {iban('FR', '20041010050500013M02606')} pls", PD)
I(f"@acme account {iban('ES', '21000418450200051332')}", PD)
I("@acme my invoice RE-2025-004512 is wrong")
I("@acme the postcode is SW1A 1AA and still no delivery")

# ---------------- inbound, public, German ----------------
I("@acme Mein Wasserkocher ist nach 2 Wochen kaputt. Echt enttäuschend.", lang="de")
I("@acme Scheißservice, drei Wochen und kein Paket!", lang="de")
I("@acme Was für ein Saftladen. Nie wieder.", lang="de")
I("@acme Ihr seid doch alle unfähig!", lang="de")
I("@acme Die blöde App stürzt schon wieder ab", lang="de")
I("@acme Ich hab die Schnauze voll von euren Ausreden", lang="de")
I("@acme Abzocke! Ich will mein Geld zurück", lang="de")
I("@acme Ihr Idioten habt schon wieder die falsche Farbe geschickt", "abusive", lang="de")
I("@acme Eure Mitarbeiter sind Vollpfosten", "abusive", lang="de")
I("@acme Halt die Fresse mit deiner Werbung", "abusive", lang="de")
I("@acme Verpisst euch", "abusive", lang="de")
I("@acme Der Typ an der Hotline war ein Arschloch", "abusive", lang="de")
I("@acme Ihr Betrüger und Verbrecher!", "abusive", lang="de")
I("@acme Dumme Kuh an der Kasse in Köln", "abusive", lang="de")
I("@acme Ich komme mir vor wie ein Idiot, hab den Stecker vergessen 🙈", lang="de")
I("@acme Ich war so blöd und hab die falsche Größe bestellt", lang="de")
I("@acme Euer Kundenservice ist einfach nur dumm", "abusive", lang="de")
I("@acme Was für Spinner arbeiten bei euch?", "abusive", lang="de")
I("@acme Ihr Lügner, das Paket war nie bei DHL", "abusive", lang="de")
I("@acme Ich werde euch finden, ihr werdet es bereuen", "abusive", lang="de")
I("@acme Ich werde dich finden und fertigmachen", "abusive", lang="de")
I("@acme Die sollte man alle aufhängen", "abusive", lang="de")
I("@acme Schmarotzer-Pack, alle raus", "abusive", lang="de")
I("@acme Stellt keine Kanaken mehr ein", "abusive", lang="de")
I("@acme Ihr seid so ein Witzverein", lang="de")
I("@acme Das ist doch ein schlechter Witz, 3 Wochen Lieferzeit", lang="de")
I("@acme Verdammt, schon wieder kaputt", lang="de")
I("@acme Der Mixer ist Schrott", lang="de")
I("@acme Unverschämt, wie ihr mit Kunden umgeht", lang="de")
I("@acme Bei euch arbeiten nur Vollidioten", "abusive", lang="de")
I("@acme Ihr Penner!", "abusive", lang="de")
I("@acme Eure Filialleiterin ist eine eingebildete Tussi", "abusive", lang="de")
I("@acme Wichser", "abusive", lang="de")
I("@acme Ihr Drecksverein", "abusive", lang="de")
I("@acme Die Hotline-Mitarbeiterin war super nett, danke!", lang="de")
I("@acme Ein anderer hat euch hier Idioten genannt, finde ich daneben", lang="de")
I("@acme Ich packe das Paket gleich wieder ein und schicke es zurück", lang="de")
I("@acme Schwein gehabt, die letzte Packung im Laden erwischt", lang="de")
I("@acme Die Giraffe auf eurer Verpackung ist süß", lang="de")
I("@acme Irre ich mich, oder war der Mixer letzte Woche günstiger?", lang="de")
I("@acme Wir waren in Passau im Laden, top Beratung", lang="de")
I(f"@acme Meine IBAN ist {iban('DE', blz())}, bitte endlich erstatten", PD, lang="de")
I(f"@acme Erstattung bitte auf {iban('DE', blz(), grouped=False)}", PD, lang="de")
I(f"@acme Konto: {iban('AT', '1904300234573201')}", PD, lang="de")
I(f"@acme Kreditkarte {card('5', 16, sep='-')} wurde doppelt belastet", PD, lang="de")
I("@acme Bestellnummer ACM-554433, wo bleibt mein Paket?", PD, lang="de")
I("@acme Kundennummer KD12345678, Adresse geändert, trotzdem falsch geliefert", PD, lang="de")
I("@acme Schreibt mir an petra.lang@t-online.de", PD, lang="de")
I("@acme Ruft mich an: 0171 9876543", PD, lang="de")
I("@acme Meine Nummer +49 (0)30 1234567, bitte Rückruf", PD, lang="de")
I("@acme Sendungsnummer 0034 0434 1610 9404 2557, angeblich zugestellt", lang="de")
I("@acme Bestellt am 01.12.2025 für 1.299,00 €, immer noch nichts", lang="de")
I("@acme PLZ 10115, Berlin – liefert ihr da am Samstag?", lang="de")
I("@acme Modell 4006-381-333, gibt es dafür Ersatzteile?", lang="de")
I("@acme Die IBAN-Eingabe in eurer App funktioniert nicht", lang="de")
I("@acme Rechnung RE-2025-118822 ist falsch", lang="de")
I("@acme Die Seriennummer ist 5521 8800 1234 5678 9, welches Baujahr?", lang="de")
I("@acme Eure Werbung ist Gehirnwäsche", lang="de")
I("@acme Ihr Heuchler redet von Nachhaltigkeit und verpackt alles in Plastik", "abusive", lang="de")
I("@acme Einfach nur widerlich, wie ihr eure Fahrer behandelt", lang="de")
I("@acme Ich hasse diese App", lang="de")
I("@acme Hetzt doch nicht so, ich hab Zeit 😅", lang="de")
I("@acme Das ist ja wohl das Allerletzte", lang="de")
I("@acme Ihr seid das Letzte!", lang="de")
I("@acme Eure Hotline ist ein Witz, 2 Stunden Warteschleife", lang="de")
I("@acme Leck mich am Arsch mit eurer Garantie", "abusive", lang="de")

# ---------------- inbound, DM ----------------
I(f"Hi, my IBAN is {iban('DE', blz())} for the refund", ch="dm")
I("Meine Bestellnummer ist ACM-123987", lang="de", ch="dm")
I("you absolute morons lost my parcel again", "abusive", ch="dm")
I("Ihr Vollidioten, wo ist mein Paket", "abusive", lang="de", ch="dm")
I("thanks for sorting it out so quickly!", ch="dm")
I("Danke, alles angekommen!", lang="de", ch="dm")

# ---------------- inbound, language unknown ----------------
I("@acme ihr idioten / you idiots", "abusive", lang=None)
I("@acme danke / thanks, all good now", lang=None)

for i, item in enumerate(items, 1):
    item["id"] = i
with open("tests/data/rules_labelled.jsonl", "w", encoding="utf-8") as f:
    for item in items:
        f.write(json.dumps({"id": item.pop("id"), **item}, ensure_ascii=False) + "\n")
with open("tests/data/team_context.json", "w", encoding="utf-8") as f:
    json.dump({"templates": templates, "recent_replies": recent}, f, ensure_ascii=False, indent=1)
print(
    len(items),
    sum(i["direction"] == "outbound" for i in items),
    sum(i["language"] == "de" for i in items),
)
