"""The dashboard the gateway serves at ``/ui`` and the standalone HTML report: one page
(``static/``), its data read from the ledger (``data.py``)."""
