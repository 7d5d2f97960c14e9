"""A small realistic multilingual corpus shared by the parity, relevance, API
and browser tests: listings in Latvian, English, Russian and German with the
fields newcomers filter on (required languages, residence rules, support,
age limits, deadlines, places with coordinates) and two duplicate clusters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pipeline.events import (
    ActivityType,
    DurationClass,
    Eligibility,
    GeoPoint,
    LanguageRequirement,
    Location,
    Opportunity,
    Organisation,
    Provenance,
    Status,
    Support,
    Theme,
    WorkMode,
)

CITY = {
    "Riga": ("LV", 56.9496, 24.1052), "Daugavpils": ("LV", 55.8833, 26.5333),
    "Cēsis": ("LV", 57.3119, 25.2749), "Tallinn": ("EE", 59.437, 24.7536),
    "Tartu": ("EE", 58.3806, 26.7251), "Vilnius": ("LT", 54.6872, 25.2797),
    "Berlin": ("DE", 52.5244, 13.4105), "Hamburg": ("DE", 53.5753, 10.0153),
    "Lisbon": ("PT", 38.7167, -9.1333), "Kraków": ("PL", 50.0614, 19.9366),
}

# id, lang, title, description, city, themes, activity, extras
LISTINGS: list[tuple[str, str, str, str, str | None, tuple[Theme, ...], ActivityType, dict]] = [
    ("lv-1", "lv", "Brīvprātīgais darbs dzīvnieku patversmē",
     "Palīdzi rūpēties par suņiem un kaķiem Rīgas dzīvnieku patversmē. Brīvprātīgo darbs notiek nedēļas nogalēs.",
     "Riga", (Theme.animals,), ActivityType.volunteering,
     {"deadline": date(2026, 12, 20), "age": (16, None), "langs": [("lv", True)], "support": {"training": True}}),
    ("lv-2", "lv", "Brīvprātīgo darbu koordinators jauniešu centrā",
     "Meklējam brīvprātīgo darbu koordinatoru Daugavpils jauniešu centrā. Tu organizēsi pasākumus jauniešiem.",
     "Daugavpils", (Theme.youth, Theme.community), ActivityType.volunteering,
     {"deadline": date(2026, 12, 5), "langs": [("lv", True), ("ru", False)]}),
    ("lv-3", "lv", "Solidaritātes projekts: vides izglītība skolās",
     "Eiropas Solidaritātes korpusa projekts Cēsīs. Brīvprātīgie vada vides nodarbības bērniem. Nodrošināta dzīvesvieta un ēdināšana.",
     "Cēsis", (Theme.environment, Theme.education), ActivityType.volunteering,
     {"programme": "European Solidarity Corps", "start": date(2027, 2, 1), "deadline": date(2027, 1, 10), "age": (18, 30),
      "residence": ["LV", "EE", "LT"], "support": {"accommodation": True, "food": True, "travel": True},
      "duration": DurationClass.long_term}),
    ("lv-4", "lv", "Palīgs pārtikas bankā",
     "Pārtikas bankā vajadzīgi brīvprātīgie pārtikas paku šķirošanai. Latviešu valoda nav nepieciešama.",
     "Riga", (Theme.social,), ActivityType.volunteering, {"deadline": date(2026, 12, 1)}),
    ("en-1", "en", "Volunteer at an animal shelter in Tallinn",
     "Help care for dogs and cats at a busy animal shelter. Volunteers walk dogs and clean enclosures. English is enough.",
     "Tallinn", (Theme.animals,), ActivityType.volunteering,
     {"langs": [("en", True)], "deadline": date(2026, 12, 15), "support": {"insurance": True}}),
    ("en-2", "en", "Food bank volunteers needed",
     "Sort and pack food parcels for families in need. Flexible shifts, training provided.",
     "Vilnius", (Theme.social,), ActivityType.volunteering,
     {"support": {"training": True}, "updated": date(2026, 11, 20)}),
    ("en-3", "en", "European Solidarity Corps volunteering in Lisbon",
     "Twelve months with a youth NGO in Lisbon: workshops, media and community events. Accommodation, food, travel and a monthly allowance are provided.",
     "Lisbon", (Theme.youth, Theme.culture), ActivityType.volunteering,
     {"programme": "European Solidarity Corps", "age": (18, 30), "residence": ["LV", "PT", "DE", "EE", "LT", "PL"],
      "support": {"accommodation": True, "food": True, "travel": True, "allowance": True},
      "start": date(2027, 3, 1), "deadline": date(2027, 1, 31), "duration": DurationClass.long_term,
      "langs": [("en", True)]}),
    ("en-4", "en", "Remote mentoring for young refugees",
     "Mentor a young refugee online for one hour a week. Ukrainian or Russian speakers especially welcome.",
     None, (Theme.migrants_refugees, Theme.education), ActivityType.volunteering,
     {"work_mode": WorkMode.remote, "langs": [("uk", False)]}),
    ("en-5", "en", "Traineeship in climate communication",
     "A six-month paid traineeship at an environmental NGO in Berlin, writing about climate policy.",
     "Berlin", (Theme.environment, Theme.employment), ActivityType.traineeship,
     {"langs": [("de", True), ("en", True)], "duration": DurationClass.short_term,
      "support": {"allowance": True}}),
    ("en-6", "en", "Beach clean-up day",
     "Join a one-day litter pick on the beach near Tallinn. Gloves and bags provided.",
     "Tallinn", (Theme.environment,), ActivityType.volunteering,
     {"duration": DurationClass.one_off, "start": date(2026, 12, 12)}),
    ("ru-1", "ru", "Волонтёр в приюте для животных",
     "Нужен волонтёр для помощи в приюте для животных в Риге: выгул собак, уборка. Знание латышского языка не требуется.",
     "Riga", (Theme.animals,), ActivityType.volunteering, {"langs": [("ru", True)], "deadline": date(2026, 12, 10)}),
    ("ru-2", "ru", "Волонтёры для работы с пожилыми людьми",
     "Ищем волонтёров, которые будут навещать пожилых людей в Даугавпилсе и помогать им по дому.",
     "Daugavpils", (Theme.health, Theme.social), ActivityType.volunteering, {"age": (18, None)}),
    ("ru-3", "ru", "Онлайн-репетитор для детей беженцев",
     "Помогите детям беженцев с домашними заданиями онлайн. Украинский язык приветствуется.",
     None, (Theme.education, Theme.migrants_refugees), ActivityType.volunteering, {"work_mode": WorkMode.remote}),
    ("de-1", "de", "Freiwilligendienst im Tierheim Hamburg",
     "Im Tierheim Hamburg suchen wir Freiwillige für die Betreuung von Hunden und Katzen. Deutschkenntnisse erforderlich.",
     "Hamburg", (Theme.animals,), ActivityType.volunteering,
     {"langs": [("de", True)], "deadline": date(2026, 12, 31), "support": {"accommodation": True}}),
    ("de-2", "de", "Ehrenamtliche Sprachpaten für Geflüchtete",
     "Als Sprachpatin oder Sprachpate begleitest du Geflüchtete in Berlin beim Deutschlernen.",
     "Berlin", (Theme.migrants_refugees, Theme.education), ActivityType.volunteering,
     {"langs": [("de", True)], "age": (16, None)}),
    ("de-3", "de", "Freiwillige für die Tafel gesucht",
     "Die Hamburger Tafel sucht Freiwillige zum Sortieren von Lebensmitteln.",
     "Hamburg", (Theme.social,), ActivityType.volunteering, {}),
    ("pl-1", "pl", "Wolontariat w schronisku dla zwierząt",
     "Schronisko w Krakowie szuka wolontariuszy do opieki nad psami.", "Kraków", (Theme.animals,),
     ActivityType.volunteering, {"langs": [("pl", True)]}),
    ("closed-1", "en", "Animal shelter helper (filled)",
     "This animal shelter position is filled.", "Riga", (Theme.animals,), ActivityType.volunteering,
     {"status": Status.closed}),
    # duplicates: the same listing from two sources
    ("dup-a", "en", "Youth exchange on media literacy", "A youth exchange in Tartu about media literacy and fake news.",
     "Tartu", (Theme.youth, Theme.education), ActivityType.exchange,
     {"cluster": "dup-a", "programme": "Erasmus+", "age": (18, 25), "start": date(2027, 4, 10)}),
    ("dup-b", "en", "Youth exchange: media literacy", "Youth exchange in Tartu on media literacy and fake news.",
     "Tartu", (Theme.youth, Theme.education), ActivityType.exchange,
     {"cluster": "dup-a", "programme": "Erasmus+", "age": (18, 25), "start": date(2027, 4, 10), "source": "other"}),
]


def corpus() -> list[Opportunity]:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for n, (oid, lang, title, desc, city, themes, activity, x) in enumerate(LISTINGS):
        seen = base + timedelta(hours=n * 7 % 50, minutes=n)
        locations = []
        if city:
            country, lat, lon = CITY[city]
            locations = [Location(country=country, city=city, geo=GeoPoint(lat=lat, lon=lon))]
        age = x.get("age", (None, None))
        out.append(Opportunity(
            id=oid, cluster_id=x.get("cluster", oid), source_id=x.get("source", "corpus"), external_id=oid,
            programme=x.get("programme"), url=f"https://example.org/{oid}", title=title, summary=desc[:120],
            description_text=desc, description_html=f"<p>{desc}</p>", language=lang,
            organisation=Organisation(name=f"Org {oid.split('-')[0].upper()}"),
            locations=locations, work_mode=x.get("work_mode", WorkMode.onsite),
            remote=x.get("work_mode", WorkMode.onsite) != WorkMode.onsite,
            start_date=x.get("start"), deadline=x.get("deadline"), updated_date=x.get("updated"),
            duration_class=x.get("duration", DurationClass.unknown), themes=list(themes), activity_type=activity,
            eligibility=Eligibility(
                age_min=age[0], age_max=age[1], residence_countries=x.get("residence", []),
                languages=[LanguageRequirement(language=code, required=req) for code, req in x.get("langs", [])],
            ),
            support=Support(**x.get("support", {})), status=x.get("status", Status.open),
            provenance=Provenance(first_seen=seen, last_seen=seen, content_hash=oid),
        ))
    return out


def shifted(days: int, dates: bool = False) -> list[Opportunity]:
    """The corpus, first seen ``days`` later; with ``dates`` its deadlines,
    start and end dates move too (a test on the real clock stays the same
    test whatever today is)."""
    out = []
    for d in corpus():
        update: dict[str, object] = {"provenance": d.provenance.model_copy(
            update={"first_seen": d.provenance.first_seen + timedelta(days=days)})}
        if dates:
            update.update({k: getattr(d, k) + timedelta(days=days)
                           for k in ("deadline", "start_date", "end_date") if getattr(d, k) is not None})
        out.append(d.model_copy(update=update))
    return out
