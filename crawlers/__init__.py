"""The Scrapy project: spiders, the source registry, politeness settings and the
item pipeline that publishes RawOpportunity events to the bus."""
