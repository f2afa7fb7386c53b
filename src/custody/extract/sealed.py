"""What the manifest seals of each document besides its text's digest, so that verify can
check every column of the database that extraction filled. A module of its own: verify
reads it without loading extraction (lxml, trafilatura, the worker pool)."""

SEALED_METADATA = ("title", "author", "published", "sitename", "language", "charset", "note",
                   "source")
