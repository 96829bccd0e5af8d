"""Model right-sizing: send each request to the cheapest model that answers it well.

* ``features`` / ``router`` / ``training``: the learned complexity router, P(weak answer
  acceptable | prompt), trained and evaluated with ``tokenthrift router train|eval``.
* ``tasks``: the offline task-type classifier (abstains when unsure).
* ``metrics`` / ``evaluation`` / ``data``: RouteLLM's APGR and CPT on labelled CSVs.

See ``docs/routing.md``.
"""
