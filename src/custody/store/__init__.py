"""The archive kept in S3-compatible object storage (``--store s3://BUCKET/PREFIX``).

Object for file, at the same relative paths as an archive folder, so that a copy
fetched from the store (``custody pull``, ``custody verify --store``) is an ordinary
archive that verifies with custody or with standard tools. Workers seal in folders of
their own and send each seal to the store under the queue's seal lock, the ledger
written only over the version they read (see ``mirror``); ``s3`` is the client,
patient across outages.
"""
