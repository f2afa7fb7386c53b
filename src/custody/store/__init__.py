"""The archive kept in S3-compatible object storage (``--store s3://BUCKET/PREFIX``).

Object for file, at the same relative paths as an archive folder, but for what would be
rewritten at every seal: the ledger's leaves and the custody log are immutable pieces,
and one small head (``manifests/ledger/head.json``) commits them, with the checkpoint
and the log's signed head (``head``, ``pieces``). A copy fetched from the store
(``custody pull``, ``custody verify --store``) is an ordinary archive that verifies with
custody or with standard tools (``copy``). Workers seal in folders of their own and send
each seal to the store under the queue's seal lock, the head written only over the
version they read (``mirror``, ``sending``, ``settling``); ``s3`` is the client, patient
across outages.
"""
