"""tokenthrift: an LLM gateway that cuts API spend and accounts for every dollar it saves."""

__version__ = "0.1.0"
