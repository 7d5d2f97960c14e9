"""Activity type and work mode (on-site, remote, hybrid), from fields and wording."""

from __future__ import annotations

import re

from pipeline.events import ActivityType, WorkMode
from pipeline.normalize.text import fold

_EMPLOYMENT_TYPES = {
    "VOLUNTEER": ActivityType.volunteering,
    "INTERN": ActivityType.traineeship,
    "FULL_TIME": ActivityType.job,
    "PART_TIME": ActivityType.job,
    "CONTRACTOR": ActivityType.job,
    "TEMPORARY": ActivityType.job,
    "INDIVIDUAL VOLUNTEERING": ActivityType.volunteering,
    "VOLUNTEERING TEAMS": ActivityType.volunteering_team,
    "VOLUNTEERING TEAM": ActivityType.volunteering_team,
    "SOLIDARITY PROJECTS": ActivityType.solidarity_project,
    "TRAINEESHIPS": ActivityType.traineeship,
    "JOBS": ActivityType.job,
}
_WORDING = [
    (ActivityType.traineeship, re.compile(
        r"traineeship|internship|\btrainees?\b|\bintern\b|tirocini|\bstage\b|praktikum|\bstaz"
        r"|prakse|стажир|стажуван|\bpraktika|pasantia|practicas")),
    (ActivityType.solidarity_project, re.compile(
        r"solidarity project|solidaritates projekt|solidaritatsprojekt|projet de solidarite"
        r"|proyecto de solidaridad|progetto di solidarieta|projekt solidarnosciow"
        r"|solidarumo projekt|проект\w* солидарности|проект\w* солідарності")),
    (ActivityType.volunteering_team, re.compile(
        r"volunteering teams?\b|volunteer teams?\b|brivpratigo komand|brivpratigaj\w* komand|freiwilligenteam"
        r"|wolontariat zespolow|equipos? de voluntariado|volontariat d'equipe|squadr\w* di volontar"
        r"|волонтерск\w* команд|волонтерськ\w* команд")),
    (ActivityType.exchange, re.compile(
        r"youth exchange|jauniesu apmain|молодежн\w* обмен|молодiжн\w* обмiн|jugendbegegnung"
        r"|jugendaustausch|echange de jeunes|intercambio juvenil|scambio giovanile"
        r"|wymiana mlodziezy|jaunimo mainai|noortevahetus")),
]
_REMOTE_VALUES = {"true", "yes", "1", "telecommute", "remote", "online", "virtual"}
_REMOTE_WORDING = re.compile(
    r"\bonline\b|\bremote\b|\bvirtual\b|from home|attalinat|tiessaiste|удален|удалён|онлайн"
    r"|дистанцiйн|дистанційн|von zu hause|a distance|en linea|a distanza|zdalni|nuotolin"
    r"|kaugtoo|veebis")


def activity_type(employment_type: str | None, title: str, categories: list[str]) -> ActivityType:
    declared = (employment_type or "").strip().upper()
    if declared in _EMPLOYMENT_TYPES:
        return _EMPLOYMENT_TYPES[declared]
    for token in declared.replace(",", " ").split():
        if token in _EMPLOYMENT_TYPES:
            return _EMPLOYMENT_TYPES[token]
    text = fold(" ".join([title, *categories]))
    for kind, pattern in _WORDING:
        if pattern.search(text):
            return kind
    return ActivityType.volunteering


# ``h(?<!\w.)ybrid`` is ``\bhybrid``, written to be faster to search (see programme.py).
_HYBRID_WORDING = re.compile(
    r"h(?<!\w.)ybrid|partly (?:online|remote)|partially remote|daļēji attālinā|частично удал|гибридн"
    r"|частково дистанц|гібридн|teilweise remote|hybride|en partie à distance|híbrid|ibrid"
    r"|hybrydow|częściowo zdaln|hibridin|osaliselt kaug|hübriid")


def work_mode(declared: str | None, title: str, text: str) -> WorkMode:
    """On-site unless the source or the title says remote; hybrid when the listing says so."""
    if _HYBRID_WORDING.search(fold(f"{title} {(declared or '')} {text[:2000]}")):
        return WorkMode.hybrid
    if (declared or "").strip().lower() in _REMOTE_VALUES:
        return WorkMode.remote
    if _REMOTE_WORDING.search(fold(title)):
        return WorkMode.remote
    return WorkMode.onsite
