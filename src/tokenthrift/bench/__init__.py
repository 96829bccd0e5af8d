"""Savings at quality: replay a workload whose requests carry answer keys through a real
gateway, and report the cost cut and the quality kept, per lever.

* ``trace``: the trace format (JSON Lines, one request a line; a public contract).
* ``judge``: whether an answer was right under a request's key, and which lever made it
  wrong.
* ``upstream``: the emulator as the replay's upstream, on the trace's clock, tagging
  every answer with the request it was generated for.
* ``runs``: a gateway run's config from a policy file (every lever the policy does not
  configure is off) and the ``serve`` subprocess.
* ``replay``: send the trace, collect what each request got, read the ledger back.
* ``report``: baseline run vs policy run → the summary.
* ``make_trace``: build a trace from labelled public data.

See ``docs/replay.md``.
"""
