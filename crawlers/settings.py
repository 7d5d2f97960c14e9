"""Scrapy settings for tilts crawlers; every value says why it is what it is.

Environment read here: ``TILTS_CONTACT_URL`` (User-Agent contact),
``TILTS_DOWNLOAD_DELAY`` (seconds between requests per domain),
``TILTS_BUS_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` / ``TILTS_DATA_DIR`` (where
items are published; see pipeline.config), ``TILTS_TOPIC_PREFIX`` and
``TILTS_CONFIRM_MISSING`` / ``TILTS_CONFIRM_MISSING_MAX`` (asking the pages of
listings a complete crawl no longer found).
Any of them can also be overridden per run with ``scrapy crawl -s NAME=value``.
"""

import os

from pipeline.config import bus_url_from_env

BOT_NAME = "tilts"
SPIDER_MODULES = ["crawlers.platforms"]
NEWSPIDER_MODULE = "crawlers.platforms"

# Identify ourselves honestly, with a way to reach us.
TILTS_CONTACT_URL = os.environ.get("TILTS_CONTACT_URL", "https://github.com/tilts-project/tilts")
USER_AGENT = f"tilts/0.1 (volunteering opportunities aggregator; +{TILTS_CONTACT_URL})"

# Politeness: obey robots.txt, one or two requests at a time per domain, and
# let AutoThrottle slow down further when a site answers slowly.
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = float(os.environ.get("TILTS_DOWNLOAD_DELAY", "1.0"))
RANDOMIZE_DOWNLOAD_DELAY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = max(DOWNLOAD_DELAY, 0.1)
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# Bounds: a hostile or broken site cannot hold a crawl forever or fill memory.
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
RETRY_TIMES = 2
# Retry 5xx and timeouts after 1 s, 2 s, … (crawlers/middlewares.py), not at once.
# Every failure is counted once, by kind, where it is final (crawlers/failures.py):
# just outside the retries (540), and where Scrapy refuses a redirect loop
# (600, 580) or a body over DOWNLOAD_MAXSIZE once decompressed (590).
# Text responses reach the spiders in UTF-8, read in the encoding their bytes
# are really in (585: after decompression, before the meta refresh check).
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.BackoffRetryMiddleware": 550,
    "crawlers.middlewares.FinalOutcomeMiddleware": 540,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawlers.middlewares.LoopCountingRedirectMiddleware": 600,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawlers.middlewares.LoopCountingMetaRefreshMiddleware": 580,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawlers.middlewares.SizeCountingHttpCompressionMiddleware": 590,
    "crawlers.middlewares.EncodingMiddleware": 585,
}
TILTS_RETRY_BACKOFF_BASE = 1.0
TILTS_RETRY_BACKOFF_MAX = 60.0
REDIRECT_MAX_TIMES = 5
DEPTH_LIMIT = 3
CLOSESPIDER_TIMEOUT = 3600

# Publish every item to the bus (Kafka or the embedded log).
ITEM_PIPELINES = {"crawlers.pipelines.BusPublishPipeline": 800}
TILTS_BUS_URL = bus_url_from_env()
TILTS_TOPIC_PREFIX = os.environ.get("TILTS_TOPIC_PREFIX", "")
# How long publishing waits for an unreachable bus before the crawl gives up.
TILTS_PUBLISH_RETRY_SECONDS = float(os.environ.get("TILTS_PUBLISH_RETRY_SECONDS", "120"))
# After a complete crawl, ask the pages of listings it no longer found (404/410 closes
# them now, crawlers/pipelines.py): on, and at most this many a crawl.
TILTS_CONFIRM_MISSING = os.environ.get("TILTS_CONFIRM_MISSING", "1") not in {"0", "false", "no"}
TILTS_CONFIRM_MISSING_MAX = int(os.environ.get("TILTS_CONFIRM_MISSING_MAX", "100"))

TELNETCONSOLE_ENABLED = False
COOKIES_ENABLED = False
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = os.environ.get("TILTS_CRAWL_LOG_LEVEL", "INFO")
