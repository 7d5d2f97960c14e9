"""One module per publishing platform, holding its parser and its spider; the
module is named after the spider (``scrapy crawl eyp`` → ``eyp.py``).

Shared parsing helpers are in ``crawlers/parsing.py`` and
``crawlers/structured_data.py``, shared spider machinery in ``crawlers/spider.py``.
"""
