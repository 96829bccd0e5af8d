"""The prompt audit: ledger traffic grouped by prompt template, ranked by cost, with
what would save money on each (``tokenthrift audit``)."""
