"""What a programme officer watches: coverage numbers, crawl reports and source
health, the dashboard and its metrics."""
