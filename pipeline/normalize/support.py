"""Support: what the host covers (accommodation, food, travel, insurance,
pocket money, language course, training).

``support`` reads what is covered: a support word (in the languages we
crawl) counts only in a sentence that says it is provided ("we cover",
"tiek segti", "покрываются", "wir bieten", "pris en charge", "zapewniamy"...)
or names the volunteers as receiving it ("для участников", "para todo el
voluntariado"): "distribute hot meals to the homeless" is a task, not a
benefit. A sentence that says a thing is not covered sets it to False.
``listing_support`` adds a section of the listing that says what the host
covers, which outweighs the description.
"""

from __future__ import annotations

import re

from pipeline.events import Support
from pipeline.normalize.text import fold, literal_alternation, sentences

_SUPPORT_TERMS: dict[str, str] = {  # word stems and phrases, matched on folded text
    "accommodation": (
        "accommodat, alloggio, alojamiento, apgyvendin, board and lodging, dzivesviet, heberge, "
        "hebergement, housing, izmitinas, lodging, logement, majutus, naktsmitn, nocleg, "
        "unterkunft, untergebracht, zakwaterowan, жиль, житл, проживани, проживанн"),
    "food": (
        "board and lodging, breakfast, comida, desayuno, dinner, edinas, food, full board, "
        "half board, lounasook, lunch, mahlzeit, maitinim, maltit, meal, meals, nourriture, "
        "pasti, posilk, pranzo, pusdien, repas, toitlust, verpflegung, vitto, wyzywien, "
        "обед, питани, харчуванн"),
    "travel": (
        "anreise, cela, deplacement, desplazamiento, dojazd, fahrtkosten, izdevum, kelion, "
        "podroz, reisekosten, soidu, transport, travel, viaggio, viaje, voyage, дорог, "
        "проезд, проїзд"),
    "insurance": (
        "apdrosinas, assicuraz, assurance, draudim, insurance, kindlustus, seguro, "
        "sozialversichert, ubezpiecz, versicher, страхов, страхуванн"),
    "allowance": (
        "allowance, argent de poche, aufwandsentschadigung, dienpinig, dinero de bolsillo, "
        "kabatas naud, kieszonkow, pocket money, rimborso spese, stipend, taschengeld, "
        "taskuraha, карманн, кишеньков"),
    "language_course": (
        "corso di lingua, cours de langue, curso de idioma, estonian course, french course, "
        "german course, greek course, italian course, kalbos kurs, keelekursus, "
        "kurs jezykow, language classes, language course, language lessons, latvian course, "
        "lithuanian course, polish course, portuguese course, slovenian course, "
        "spanish course, sprachkurs, valodas kurs, курсы, мовн курс, языков курс"),
    "training": (
        "apmacib, formacion, formation, formazione, fortbildung, induction, koolitus, mokym, "
        "pre-deployment, schulung, seminar, szkoleni, training, trainings, навчанн, обучени, "
        "тренинг"),
}
_PROVIDED = re.compile(
    r"provide|cover|offer|include|receive|\bget\b|\bgets\b|reimburs|compensat|are paid|we pay"
    r"|tiek segt|sedz|nodrosin|sanem|piedava|apmaks|kompense|предоставля|обеспечива|покрыва"
    r"|получа|оплачива|компенсир|проводим|надаємо|нада|забезпеч|покрива|отриму|bieten|bietet"
    r"|erhalt|ubernehm|\bgibt\b|gestellt|inklusive|pris en charge|offert|propos|fourni|inclus"
    r"|ofrece|incluye|cubre|proporcion|offre|offriamo|previst|fornit|zapewnia|oferuj|pokrywa"
    r"|otrzym|suteik|kompensuoj|apmoka|pakume|pakub|huvit|tagame"
    r"|brivpratigajiem|для волонт|для участник|волонтерам|волонтёрам|fur freiwillige"
    r"|pour les benevoles|para todo el voluntariado|para el voluntariado|per i volontari"
    r"|dla wolontariusz|savanoriams|vabatahtlikele",
)
_NOT_PROVIDED = re.compile(
    r"\bnot (?:provided|covered|included|offered|reimbursed|paid|compensated)"
    r"|\bno (?:accommodation|food|travel|insurance"
    r"|allowance|pocket money)|netiek (?:segt|nodrosin)|nav nodrosin|не (?:предоставля|покрыва"
    r"|оплачива|обеспечива)|не (?:надає|покрива|забезпеч)|nicht (?:ubernommen|enthalten|gestellt)"
    r"|keine (?:unterkunft|verpflegung|fahrtkosten)|non (?:fourni|pris en charge|inclus)"
    r"|no (?:incluye|se cubre|se ofrece)|non (?:e |sono )?(?:previst|inclus|fornit)"
    r"|nie (?:zapewniamy|pokrywamy)|neteikiam|nekompensuoj|ei paku|ei huvita",
)

_TERMS = {flag: [fold(t.strip()) for t in terms.split(",")] for flag, terms in _SUPPORT_TERMS.items()}


def _alternation(terms: list[str]) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + literal_alternation(terms) + r")")


_SUPPORT = {flag: _alternation(terms) for flag, terms in _TERMS.items()}
# "языковой курс", "курсы латышского языка", "online Latvian course" etc.
_LANGUAGE_COURSE = re.compile(
    r"(?:курс\w*\s+\w+\s+язык|\w+ian\s+(?:language\s+)?course|\w+ish\s+(?:language\s+)?course"
    r"|\w+ese\s+(?:language\s+)?course|greek\s+(?:language\s+)?course|язык\w*\s+курс"
    r"|corso di lingua|curso de \w+|kurs\w* jezyka)"
)


# A sentence can only set a flag if it names a support term or a course
# (every _LANGUAGE_COURSE wording has one of the course words): one quick
# look for any of them spares the other sentences the wording checks.
_ANY_TERM = re.compile(r"(?<!\w)(?:" + literal_alternation(t for terms in _TERMS.values() for t in terms)
                       + r")|курс|course|corso|curso|kurs")


def support(text: str, *, section: bool = False) -> Support:
    """What ``text`` says the host covers. With ``section``, the text is a section
    whose heading already says so (the European Youth Portal's "Accommodation,
    food and transport arrangements"): every support word counts unless its
    sentence says it is not covered, and a "not covered" outweighs a partial cover."""
    flags: dict[str, bool] = {}
    for sentence in sentences(text):
        folded = fold(sentence)
        if not _ANY_TERM.search(folded):
            continue
        negative = bool(_NOT_PROVIDED.search(folded))
        if not negative and not section and not _PROVIDED.search(folded):
            continue
        for flag, pattern in _SUPPORT.items():
            hit = bool(pattern.search(folded))
            if flag == "language_course":
                hit = hit or bool(_LANGUAGE_COURSE.search(folded))
            # The first statement wins; in a section, a "not covered" wins over
            # a partial one ("local transport" vs "international travel is not reimbursed").
            if hit and (flag not in flags or (section and negative)):
                flags[flag] = not negative
    return Support(**flags)


def listing_support(text: str, section: str | None) -> Support:
    """Support stated in the text, overridden by a section that says what the host covers."""
    found = support(text)
    if not section:
        return found
    stated = support(section, section=True).model_dump(exclude_none=True)
    return found.model_copy(update=stated)
