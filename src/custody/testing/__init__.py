"""Stand-ins for the outside world, for the demo, the tests and the benchmarks.

- ``site``: a small multilingual web site built from seed texts, served on loopback
  over HTTP or HTTPS in a thread, and a generator of larger sites for crawls;
- ``tsa``: a local RFC 3161 time-stamping authority (``openssl ts -reply`` behind a
  loopback HTTP server), with a certificate chain of its own.

They are not used by custody itself; nothing here is evidence.
"""
