"""``tokenthrift batch run``: a JSONL file of requests through the providers' Batch APIs.

``requests`` reads and normalises the input, ``chunks`` splits it within each provider's
limits, ``api`` speaks the OpenAI Files/Batches and Anthropic Message Batches endpoints
(through the gateway or directly), ``state`` keeps the resume file, and ``runner`` drives
submit → poll → download → results in input order, with the cost against synchronous.
"""
