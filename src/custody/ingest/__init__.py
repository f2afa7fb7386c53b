"""Bringing WARC, ARC and WACZ files from other tools under custody: `custody import`."""
