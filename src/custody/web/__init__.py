"""The investigator's workbench: ``custody serve``, a web application over the archive.

Pages rendered on the server from Jinja2 templates (autoescaping on: captured titles,
URLs, headers and text are always shown as text), with one small script of our own for
what changes while a page is open (a capture's progress, a verification's outcome).

Why Starlette and Jinja2, with no JavaScript framework: Starlette is a small, well-kept
ASGI toolkit (the core of FastAPI) that gives routing, forms, static files and streaming
responses, and lets the guard in front of every route (security.py: Host, resource
isolation, CSRF, sign-in, the Content-Security-Policy) be one plain ASGI middleware;
uvicorn serves it, and a second server on another port, another site, serves replay.
Jinja2 is what pywb and Datasette render with, and what the capture report should move
to. A page that works without script, and a few dozen lines of our own where script
helps, need no build chain, no npm package to vendor and audit, and a CSP of
``script-src 'self'`` with nothing inline.

The workbench holds no capture, seal, verify or annotation logic: it calls the library
the CLI calls -- capture.run, verify.run, report, seal.bundle, export.wacz, export.case,
annotate, index -- and records what its accounts do as events in the custody log.

Modules: ``server`` (the servers and workers), ``app`` (routes), ``security`` (the
guard), ``sessions`` and ``accounts`` (who is asking), ``pages`` (reading), ``actions``
(capturing, verifying, downloading), ``annotating`` (cases, tags and notes, through
custody.annotate), ``auth`` (sign-in, accounts), ``listing``, ``capture_view``,
``verification``, ``capturing``, ``capture_form``, ``events``, ``replay_proxy`` and
``workbench`` (what the routes share).
"""

from __future__ import annotations
