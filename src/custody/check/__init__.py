"""Checking WARC, ARC and WACZ files that custody did not write: `custody check`."""
