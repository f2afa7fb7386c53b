"""Crawling from a shared Redis queue with any number of workers, on any number of
machines, each capture still a sealed unit of its own.

The queue is a Redis stream read by a consumer group (redis-py; no job framework):
each message names a job -- up to ``--batch`` URLs of one host and the settings to
capture them with -- whose state is a hash beside it. A worker reads a message, takes
the job with a fencing token, captures it as one ordinary capture, seals it with its own
key and acknowledges the message. While it works it claims the message again every
few seconds; a worker that dies stops doing so, and once the message has been idle for
the visibility timeout another worker takes it over (XAUTOCLAIM) -- after looking in the
archive for what the dead one left: a sealed capture is published and the job is done,
an unsealed one is set aside and the job captured afresh. So a job is sealed once.

Streams, not RQ, Celery or Dramatiq: those ship a function's pickled call to run, and
a worker that unpickles what a shared Redis holds runs whatever was put there; a job
here is signed data (URLs and settings) read by the worker's own code. Consumer groups
give what the issue needs -- delivery to one worker, a pending list, redelivery after a
timeout -- and the same few commands are what any Redis (or Valkey) offers.

Redis is not trusted: anyone who reaches it may write to it. A job is signed by the
archivist who queued it, and a worker checks the signature, that its archive admits the
key, and every setting by the command line's rules before it uses any of it; a job that
fails is marked failed with its reason, and the worker goes on.

The pieces: ``names`` (the keys), ``connection`` (one client, patient across a Redis
restart), ``envelope`` (a job's signed bytes), ``acceptance`` (what a worker checks, and
takes from its own configuration), ``jobs`` (enqueue, take, heartbeat, finish, refuse),
``status`` (what anyone may ask), ``gate`` (each host's concurrency and delay, kept
across all workers), ``sealing`` (one seal at a time across all workers, with
fencing), ``remote_index`` (the copy into PostgreSQL) and ``worker`` (the loop).
"""
