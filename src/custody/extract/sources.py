"""The target URIs of resource records whose text custody extracts as documents, beside
the responses: written by the crawl, read again by extraction and by verify (which this
module spares the extraction's imports)."""

RENDERED = "urn:dom:"  # the target URI of a page's DOM as the browser rendered it
MEDIA_INFO = "urn:media-info:"  # yt-dlp's info JSON for a page (--media)
MEDIA_FILE = "urn:media:"  # a file yt-dlp made of a page: video, audio, subtitles
POST = "urn:post:"  # one post of a feed page, cut out of it (feeds.py)
