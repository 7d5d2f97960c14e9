"""Spiders; the file name equals the spider name."""
