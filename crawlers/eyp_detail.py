"""European Youth Portal detail pages: what the search API does not say.

A European Solidarity Corps listing's page, ``/solidarity/opportunity/{opid}_{lang}``,
is a Drupal page without JSON-LD. Its facts sit in labelled sections (an
``h6`` heading followed by paragraphs on the portal today): the description,
the participant profile, "Accommodation, food and transport arrangements",
"Looking for participants from", the activity dates and location, the
application deadline ("10/09/2026 23:59"), topics, languages, age and the
number of places. Public code that reads the page finds sections by these
labels, and so does this module, in every interface language listed in
``LABELS`` and in three layouts (a heading and what follows it up to the next
heading; a ``dt``/``dd`` or ``th``/``td`` pair; an inline ``<strong>Label:</strong>
value``), so a moved ``div`` does not lose a section.

``parse_detail`` returns RawOpportunity fields plus the list of sections it
did not find (the spider counts them in CrawlStats as ``warnings_by_kind``:
``eyp_detail_missing_<section>``), never raising on a page it cannot read.
``merge`` joins a detail page with the API record: the API wins where both
have a value and ``structured.detail`` keeps what the page said.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any, NamedTuple

from parsel import Selector

from pipeline.normalize.text import fold

# Section → labels as the portal's interface languages print them (compared
# case- and accent-insensitively, without a trailing colon).
LABELS: dict[str, tuple[str, ...]] = {
    "description": ("description", "about the opportunity", "about the activity", "beschreibung",
                    "descripcion", "descrizione", "opis", "apraksts", "aprasymas", "kirjeldus",
                    "descricao", "beschrijving", "описание", "опис"),
    "profile": ("participant profile", "participants profile", "teilnehmerprofil",
                "profil der teilnehmenden", "profil du participant", "profil des participants",
                "perfil del participante", "perfil de los participantes", "profilo del partecipante",
                "profilo dei partecipanti", "profil uczestnika", "dalibnieka profils",
                "dalibnieku profils", "dalyvio profilis", "osaleja profiil", "perfil do participante",
                "profiel van de deelnemer"),
    "support": ("accommodation, food and transport arrangements",
                "accommodation, food and transport", "unterkunft, verpflegung und transport",
                "hebergement, nourriture et transport", "hebergement, restauration et transport",
                "alojamiento, comida y transporte", "alojamiento, manutencion y transporte",
                "vitto, alloggio e trasporto", "alloggio, vitto e trasporto",
                "zakwaterowanie, wyzywienie i transport", "izmitinasana, edinasana un transports",
                "naktsmitne, edinasana un transports", "apgyvendinimas, maitinimas ir transportas",
                "majutus, toitlustus ja transport", "alojamento, alimentacao e transporte",
                "accommodatie, maaltijden en vervoer"),
    "from": ("looking for participants from", "participants from", "teilnehmende gesucht aus",
             "gesucht werden teilnehmende aus", "participants recherches de",
             "a la recherche de participants de", "se buscan participantes de",
             "buscamos participantes de", "cerchiamo partecipanti da", "partecipanti da",
             "poszukiwani uczestnicy z", "mekle dalibniekus no", "dalibnieki no",
             "ieskoma dalyviu is", "otsitakse osalejaid", "procuram-se participantes de",
             "deelnemers gezocht uit"),
    "dates": ("activity dates", "dates of the activity", "datum der aktivitat", "zeitraum der aktivitat",
              "dates de l'activite", "fechas de la actividad", "date dell'attivita",
              "daty dzialania", "aktivitates datumi", "veiklos datos", "tegevuse kuupaevad",
              "datas da atividade", "data van de activiteit"),
    "location": ("activity location", "location", "ort der aktivitat", "lieu de l'activite",
                 "lugar de la actividad", "luogo dell'attivita", "miejsce dzialania",
                 "aktivitates vieta", "veiklos vieta", "tegevuse asukoht", "local da atividade",
                 "locatie van de activiteit"),
    "deadline": ("application deadline", "deadline for applications", "deadline",
                 "bewerbungsfrist", "bewerbungsschluss", "date limite de candidature",
                 "date limite des candidatures", "plazo de solicitud", "fecha limite de solicitud",
                 "scadenza per la candidatura", "scadenza delle candidature",
                 "termin skladania wnioskow", "termin zgloszen", "pieteiksanas termins",
                 "paraisku pateikimo terminas", "taotluste esitamise tahtaeg",
                 "prazo de candidatura", "uiterste aanmelddatum"),
    "topics": ("activity topics", "topics", "themen der aktivitat", "themen", "themes de l'activite",
               "temas de la actividad", "temi dell'attivita", "tematy dzialania", "aktivitates temas",
               "veiklos temos", "tegevuse teemad", "temas da atividade", "onderwerpen"),
    "languages": ("languages", "language skills", "language requirements", "sprachen",
                  "sprachkenntnisse", "langues", "competences linguistiques", "idiomas", "lingue",
                  "jezyki", "valodas", "valodu zinasanas", "kalbos", "keeled", "linguas", "talen"),
    "age": ("age", "age range", "alter", "age des participants", "edad", "eta", "wiek", "vecums",
            "amzius", "vanus", "idade", "leeftijd"),
    "places": ("number of participants", "number of volunteers", "number of places",
               "anzahl der teilnehmenden", "nombre de participants", "numero de participantes",
               "numero di partecipanti", "liczba uczestnikow", "dalibnieku skaits",
               "dalyviu skaicius", "osalejate arv", "numero de participantes", "aantal deelnemers"),
    "organisation": ("organisation", "organization", "host organisation", "organisme d'accueil",
                     "organizacion", "organizzazione", "organizacja", "organizacija", "organizacija",
                     "organisatsioon", "organizacao", "organisatie"),
}
# Sections a complete page has; a missing one is counted, the others are optional.
EXPECTED = ("description", "support", "from", "dates", "location")
# Headings each section gets in the description a listing shows.
_SECTION_TITLES = {"profile": "Participant profile",
                   "support": "Accommodation, food and transport arrangements",
                   "languages": "Languages", "age": "Age"}


class Detail(NamedTuple):
    fields: dict[str, Any]  # RawOpportunity fields
    missing: list[str]  # sections of EXPECTED not found
    sections_html: dict[str, str]  # section → "<h3>…</h3>…", other than the description


_INDEX = {fold(label): section for section, labels in LABELS.items() for label in labels}
_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "dt", "th"}
_DATE = re.compile(r"(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?:\s*(?:,|at|um|à|a las|alle|o)?\s*"
                   r"(\d{1,2})[:.h](\d{2}))?")
_ALL = re.compile(r"^(all|any|every|alle|tous|toutes|todos|todas|tutti|wszystkie|visas|visos|koik)\b")
_SPLIT = re.compile(r"\s*(?:,|;|\n|•|·|\|)\s*")


def _label(text: str) -> str | None:
    key = fold(" ".join(text.split())).rstrip(" :").strip()
    return _INDEX.get(key)


def _node_text(node: Selector) -> str:
    return " ".join(" ".join(node.css("::text").getall()).split())


def _sections(sel: Selector) -> dict[str, list[Selector]]:
    """Section → the nodes that hold its content, in any of the three layouts."""
    found: dict[str, list[Selector]] = {}
    for node in sel.xpath("//body//*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::h6"
                          " or self::dt or self::th or self::strong or self::b or self::label"
                          " or contains(@class, 'label') or contains(@class, 'title')]"):
        section = _label(_node_text(node))
        if section is None or section in found:
            continue
        tag = node.root.tag if isinstance(node.root.tag, str) else ""
        content: list[Selector] = []
        if tag in ("dt", "th"):
            content = node.xpath("following-sibling::*[self::dd or self::td][1]")
        elif tag in _HEADING_TAGS or not node.xpath("preceding-sibling::node()[normalize-space()]"
                                                    " | following-sibling::node()[normalize-space()]"):
            # A heading (or a label alone in its box): what follows it, up to the next heading.
            holder = node
            while not holder.xpath("following-sibling::*") and holder.xpath("parent::*[not(self::body)]"):
                holder = holder.xpath("parent::*")[0]
            for sibling in holder.xpath("following-sibling::*"):
                stag = sibling.root.tag if isinstance(sibling.root.tag, str) else ""
                if stag in _HEADING_TAGS or _label(_node_text(sibling)) is not None:
                    break
                if sibling.xpath(".//h1|.//h2|.//h3|.//h4|.//h5|.//h6") and content:
                    break
                content.append(sibling)
        else:
            # Inline: <p><strong>Label:</strong> value</p>: the value is the rest of the box.
            content = node.xpath("following-sibling::node()")
        if content:
            found[section] = content
    return found


def _html(nodes: list[Selector]) -> str:
    return "".join(html.escape(n.get()) if isinstance(n.root, str) else n.get() for n in nodes).strip()


def _text(nodes: list[Selector]) -> str:
    texts = []
    for n in nodes:
        texts.append(n.get() if isinstance(n.root, str) else " ".join(n.css("::text").getall()))
    return " ".join(" ".join(texts).split()).lstrip(": ").strip()


def _items(nodes: list[Selector]) -> list[str]:
    """A list as the page shows it: list items, lines, or comma-separated text."""
    lis = [_node_text(li) for n in nodes if not isinstance(n.root, str) for li in n.css("li")]
    if lis:
        return [x for x in lis if x]
    lines = []
    for n in nodes:
        if isinstance(n.root, str):
            lines.append(n.get())
        else:
            lines.extend(t for t in n.xpath(".//text()").getall())
    return [x for x in (p.strip(" .:") for p in _SPLIT.split("\n".join(lines))) if x]


def iso_date(text: str | None) -> list[str]:
    """Day-first dates as the portal prints them ("10/09/2026 23:59") → ISO strings."""
    out = []
    for m in _DATE.finditer(text or ""):
        day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        try:
            if m.group(4):
                out.append(datetime(year, month, day, int(m.group(4)), int(m.group(5))).isoformat())
            else:
                out.append(datetime(year, month, day).date().isoformat())
        except ValueError:
            continue
    return out


def parse_detail(body: bytes, url: str, opid: str | None = None) -> Detail:
    """RawOpportunity fields from one detail page, the expected sections it lacks, and the
    HTML of its sections other than the description (for :func:`merge`)."""
    sel = Selector(text=body.decode("utf-8", "replace"), base_url=url)
    sections = _sections(sel)
    title = _node_text(sel.css("h1.od-title")[0]) if sel.css("h1.od-title") else \
        next((t for t in (_node_text(h) for h in sel.css("h1")) if t), None)
    if "description" not in sections:  # the portal's first card, when the heading moved
        card = sel.css(".od-card .card-content, .opportunity-description, [class*=description]")
        if card:
            sections["description"] = card[:1]
    fields: dict[str, Any] = {"title": title, "_method": "api"}
    if opid:
        fields["external_id"] = str(opid)
    extra = {name: f"<h3>{_SECTION_TITLES[name]}</h3>" + _html(sections[name])
             for name in _SECTION_TITLES if name in sections}
    own = _html(sections["description"]) if "description" in sections else ""
    fields["description_html"] = own + "".join(extra.values()) or None
    if "support" in sections:
        fields["support_text"] = _text(sections["support"]) or None
    if "from" in sections:
        names = _items(sections["from"])
        fields["eligible_countries"] = [] if any(_ALL.match(fold(n)) for n in names) else names
    if "deadline" in sections:
        dates = iso_date(_text(sections["deadline"]))
        fields["deadline"] = dates[0] if dates else _text(sections["deadline"]) or None
    if "dates" in sections:
        text = _text(sections["dates"])
        dates = iso_date(text)
        if dates:
            fields["start_date"] = dates[0]
            fields["end_date"] = dates[1] if len(dates) > 1 else None
        else:
            fields["duration_text"] = text or None
    if "location" in sections:
        fields["location_text"] = _text(sections["location"]) or None
    if "topics" in sections:
        fields["categories"] = _items(sections["topics"])
    if "places" in sections:
        fields["places_available"] = _text(sections["places"]) or None
    if "organisation" in sections:
        fields["organisation_name"] = _text(sections["organisation"]) or None
    missing = [name for name in EXPECTED if name not in sections]
    return Detail({k: v for k, v in fields.items() if v not in (None, "", [])}, missing, extra)


def merge(api: dict[str, Any], page: Detail) -> dict[str, Any]:
    """The API record completed by its detail page: the API wins where both have a value.

    For the description that means the API's text, followed by the page's
    sections the API does not carry (accommodation, languages, age; the
    participant profile when the API had none). ``structured.detail`` keeps
    what the page said.
    """
    detail = page.fields
    merged = dict(api)
    for key, value in detail.items():
        if key.startswith("_") or key == "description_html":
            continue
        if merged.get(key) in (None, "", []):
            merged[key] = value
    own = api.get("description_html")
    if not own:
        merged["description_html"] = detail.get("description_html")
    else:
        extra = dict(page.sections_html)
        if "Participant profile" in own:
            extra.pop("profile", None)
        merged["description_html"] = own + "".join(extra.values())
    structured = dict(api.get("structured") or {})
    structured["detail"] = {k: v for k, v in detail.items() if not k.startswith("_")}
    merged["structured"] = structured
    return {k: v for k, v in merged.items() if v not in (None, "", [])}
