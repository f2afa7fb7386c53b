"""Evidence out of custody, for others to replay and check: WACZ."""
