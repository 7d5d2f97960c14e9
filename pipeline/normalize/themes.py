"""Themes: one taxonomy (docs/themes.md), from source categories and free text.

Source categories are mapped by table (the European Solidarity Corps topics
and the category names our sources use); anything else is classified by
multilingual keyword stems. A theme is assigned when its evidence scores at
least 2: a mapped category scores 3; a keyword in the title, the
organisation's name or the description's first sentence (which says what the
volunteer does) 2; each other distinct keyword in the description 1. A listing with no
evidence gets ``other`` (and is counted), never an empty list.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pipeline.events import Theme
from pipeline.normalize.text import fold, literal_alternation, sentences

# European Solidarity Corps topics (European Youth Portal names and short codes).
ESC_TOPICS: dict[str, tuple[Theme, ...]] = {
    "education and training": (Theme.education,), "edu": (Theme.education,),
    "creativity and culture": (Theme.culture,), "cult": (Theme.culture,),
    "social challenges": (Theme.social,), "socl": (Theme.social,),
    "citizenship and democratic participation": (Theme.citizenship,), "citz": (Theme.citizenship,),
    "environment and natural protection": (Theme.environment,), "envi": (Theme.environment,),
    "health and wellbeing": (Theme.health,), "hlth": (Theme.health,),
    "employment and entrepreneurship": (Theme.employment,), "empl": (Theme.employment,),
    "physical education and sport": (Theme.sport,), "sprt": (Theme.sport,),
    "working against discrimination (including gender discrimination)": (Theme.inclusion,),
    "discr": (Theme.inclusion,),
    "reception and integration of refugees and migrants": (Theme.migrants_refugees,),
    "migr": (Theme.migrants_refugees,),
    "support to local small and medium enterprise": (Theme.employment,),
    "nutrition and subsistence agriculture": (Theme.emergency,),
    "shelter": (Theme.emergency,), "wash (water, sanitation and hygiene)": (Theme.emergency,),
    "disaster prevention and recovery": (Theme.emergency,),
    "disaster preparedness": (Theme.emergency,), "post disaster relief": (Theme.emergency,),
    "community development": (Theme.community,), "digital": (Theme.digital,),
    "youth": (Theme.youth,), "animal welfare": (Theme.animals,),
    # Category names used by other sources.
    "strengthening communities": (Theme.community,),
    "helping neighbors in need": (Theme.social,),
    "integration": (Theme.migrants_refugees, Theme.inclusion),
}

_KEYWORDS: dict[Theme, str] = {
    Theme.environment: (
        "environment ecolog climate nature natural forest trees planting clean-up cleanup trail "
        "garden compost invasive recycl biodivers ranger vide= vides= vidi= daba dabas mež koku stādīs "
        "stādīt stādīš talk "
        "экологи природ лес уборк субботник довкілл природ umwelt natur naturschutz klima "
        "streuobst environnement nature medio ambiente ambiental naturaleza ambiente ambientale "
        "natura środowisk przyrod ekolog aplink gamt mišk keskkond loodus talgud matkarad "
        "rahvuspark"),
    Theme.animals: (
        # "=": a whole word, where the stem begins other words ("Catskills", "hundert",
        # "Kassel", "tierra", "loomulikult": naturally)
        "animal dog dogs cat cats= bird birds wildlife dzīvniek suņ kaķ putn животн собак кошк "
        "тварин собак tier= tiere tieren tierheim tierschutz tierpark hund= hunde= hunden= katze amphib "
        "vögel animaux chiens chats oiseaux animales perros gatos animali cani gatti zwierz psów kot "
        "gyvūn šun kat loom= loomad loomade loomaaed koer kass= kassid ornitho"),
    Theme.migrants_refugees: (
        "refugee refugees migrant migrants asylum newcomer displaced bēgļ patvērum imigrant "
        "беженц мигрант иммигрант новоприбывш біженц переселен flüchtl geflüchtet asyl migration "
        "zuwander erstaufnahme réfugié exilé refugiad migrante rifugiat uchodź pabėgėl pagulas "
        "põgenik sisserändaj"),
    Theme.education: (
        "education educational teach teacher teachers school pupils homework tutoring learn "
        "learning izglītīb skol mācīb sarunu-klub образован школ учеб языков разговорн освіт "
        "навчан bildung schul schüler nachhilfe hausaufgab lehr unterricht deutschlern sprachpat "
        "éducation école scolaire devoirs collégien educación escuela clases castellano "
        "educazione scuola istruzione edukac szkoł nauczan švietim mokykl haridus kool õpe"),
    Theme.culture: (
        "culture cultural arts artist music theatre theater festival film cinema museum heritage "
        "library creative crafts radio podcast reporter magazine kultūr māksl mūzik teātr "
        "festivāl kino muzej radoš культур искусств музык театр фестивал музе творч мистецтв "
        "kultur kunst musik museum redaktion magazin culturel artistique musique théâtre cultura "
        "arte música teatro museo biblioteca sztuk muzyk teatr menas kultuur muusika teater"),
    Theme.health: (
        "health hospital hospice patient patients medical wellbeing mental substance addiction "
        "veselīb slimnīc pacient hospis здоров больниц госпитал хоспис пациент медиц лікарн "
        "gesundheit krankenhaus hospiz pflegeheim altenheim santé hôpital salud salute ospedale "
        "zdrow hospic hospicjum szpital pacjent sveikat ligonin tervis haigla eakate"),
    Theme.youth: (
        "youth young children kids child teen teenagers jaunieš jaunatn bērn nometn молодеж "
        "молодёж дет подрост лагер молод дит табір jugend kinder jugendliche kinderbetreuung "
        "schüler jeunes jeunesse enfants collégien jóvenes juventud niños giovani gioventù "
        "bambini ragazzi młodzież dzieci jaunim vaik noor lapsed"),
    Theme.sport: (
        "sport sports football swimming running race athlet sporta спорт футбол sportiv "
        "deporte carrera"),
    Theme.social: (
        "poverty homeless food-bank elderly seniors lonely charity needy neighbors social "
        "trūcīg senior vientuļ labdarīb paciņ pārtikas бездомн малоимущ пожил благотвор "
        "obdachlos bedürftig tafel senioren armut sans-abri précarité âgées restos pobreza "
        "sin-hogar banco mayores povertà anziani ubóstw bezdomn seniorzy hospicjum żywności "
        "skurd benam pagyven eakat kodutu vaesus toidupank"),
    Theme.community: (
        "community communities neighbourhood neighborhood kopien apkaim bendruomen сообществ "
        "громад gemeinschaft nachbarschaft stadtteil quartier communauté comunidad vecinos "
        "comunità quartiere lokaln kogukond"),
    Theme.citizenship: (
        "citizenship democracy democratic participation advocacy rights civic policy pilsonisk "
        "demokrāt līdzdalīb гражданск демократ громадянськ demokratie bürger citoyenn démocrat "
        "ciudadan democraci cittadinanz democrazia obywatel demokracj pilieti demokrat kodaniku"),
    Theme.inclusion: (
        "disability disabilities disabled inclusion inclusive discrimination gender prejudice "
        "invaliditāt aizspriedum инвалид інвалідн behinder inklusion vorurteil handicap "
        "discapacidad inclusiv disabilit pregiudiz niepełnospraw negalia puue"),
    Theme.emergency: (
        "humanitarian emergency disaster relief crisis гуманитар гуманітарн humanitär "
        "katastroph humanitaire urgence humanitari emergencia emergenza humanitarn kryzys "
        "humanitar hädaabi"),
    Theme.digital: (
        "digital coding programming computer smartphone tablet internet website "
        "digitāl datorprasm цифров компьютер программир комп'ютер internetseite pc numérique "
        "informatique informática digitale informatica cyfrow komputer skaitmenin kompiuter "
        "arvuti"),
    Theme.employment: (
        "employment entrepreneurship unemploy career nodarbinātīb занятост трудоустр "
        "beschäftigung emploi empleo occupazione zatrudn užimtum tööhõive"),
}

CATEGORY_SCORE, TITLE_SCORE, TEXT_SCORE, THRESHOLD = 3, 2, 1, 2


@lru_cache(maxsize=1)
def _pattern() -> tuple[re.Pattern[str], dict[str, set[Theme]]]:
    """One regex over every theme's stems, and which themes each stem stands for."""
    owners: dict[str, set[Theme]] = {}
    for theme, words in _KEYWORDS.items():
        for word in words.split():
            owners.setdefault(fold(word).replace("-", " "), set()).add(theme)
    # Stems of up to three letters ("cat", "pc") and those marked "=" match whole words.
    entries = [(s.rstrip("="), r"(?!\w)" if len(s) <= 3 or s.endswith("=") else "") for s in owners]
    lookup = {s.rstrip("="): themes for s, themes in owners.items()}
    return re.compile(r"(?<!\w)(" + literal_alternation(entries) + r")"), lookup


_NOT_THEMES = re.compile(r"social media|social network|sociālie tīkl|соцсет|соцмереж|soziale medien"
                         r"|réseaux sociaux|redes sociales|media sociali|media społecznościowe")


def _hits(text: str) -> dict[Theme, set[str]]:
    folded = _NOT_THEMES.sub(" ", fold(text).replace("-", " "))
    pattern, lookup = _pattern()
    found: dict[Theme, set[str]] = {}
    for stem in pattern.findall(folded):
        for theme in lookup[stem]:
            found.setdefault(theme, set()).add(stem)
    return found


def classify(title: str, text: str, categories: list[str], organisation: str = "") -> list[Theme]:
    scores: dict[Theme, int] = {}
    for category in categories:
        mapped = ESC_TOPICS.get(category.strip().lower())
        if mapped:
            for theme in mapped:
                scores[theme] = scores.get(theme, 0) + CATEGORY_SCORE
        else:
            for theme in _hits(category):
                scores[theme] = scores.get(theme, 0) + CATEGORY_SCORE
    parts = sentences(text)
    lead = parts[0] if parts else ""
    rest = " ".join(parts[1:])
    for part in (title, organisation, lead):
        for theme in _hits(part):
            scores[theme] = scores.get(theme, 0) + TITLE_SCORE
    for theme, stems in _hits(rest).items():
        scores[theme] = scores.get(theme, 0) + TEXT_SCORE * len(stems)
    themes = [t for t in Theme if scores.get(t, 0) >= THRESHOLD]
    return themes or [Theme.other]
