"""Replaying captures in a browser (custody replay)."""
