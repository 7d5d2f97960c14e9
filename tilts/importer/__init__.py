"""Loading files of listings: ``tilts import`` and ``tilts index --stdin``.

``tilts import FILE`` reads RawOpportunity JSON lines, or CSV with a column
mapping (:class:`Mapping`), validates each record against the event contract
and publishes the good ones to ``opportunities.raw.v1`` exactly as a crawl
does (key ``source_id:external_id``, the event's bytes and headers). A bad
record is never published: it is reported as ``FILE:LINE: reason`` (for CSV
the line the record starts on), optionally copied to a rejects file, and the
command exits 1. It is not dead-lettered: the person importing sees the
reason at once and still has the file to fix and import again (the DLQ is for
unattended stages; ``--rejects`` keeps the bad records for a second run).

Defaults for what a dump usually lacks: ``crawl_id`` an import id
(``import-<UTC time>-<random>``, one per run), ``fetched_at`` the time the
import started, ``source_id`` ``--source-id`` (or the mapping's
``source_id``), ``extraction_method`` ``api``. A record's own values win.

``--wait`` then processes what was published: on the embedded bus it drives
the normalizer and indexer (the worker code ``tilts run`` uses) until their
consumer groups have committed everything up to the end of the raw and then
the normalized topic; on Kafka it watches the running workers' committed
offsets reach those ends, up to a timeout. Either way it then counts how
many of the imported listings the search backend holds.
"""

from tilts.importer.index import IndexReport, index_lines
from tilts.importer.mapping import ImportFailed, Mapping
from tilts.importer.progress import Bars
from tilts.importer.publish import Importer, ImportReport
from tilts.importer.readers import STDIN, guess_format
from tilts.importer.waiting import (
    WaitTimeout,
    drive_embedded,
    explain_missing,
    missing_from_index,
    wait_for_workers,
    wait_until_searchable,
)

__all__ = [
    "STDIN", "Bars", "ImportFailed", "ImportReport", "Importer", "IndexReport", "Mapping", "WaitTimeout",
    "drive_embedded", "explain_missing", "guess_format", "index_lines", "missing_from_index",
    "wait_for_workers", "wait_until_searchable",
]
