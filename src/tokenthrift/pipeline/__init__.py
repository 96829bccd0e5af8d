"""The request pipeline (see ``gateway.Gateway``)."""

from .gateway import Completion, CompletionStream, Gateway

__all__ = ["Completion", "CompletionStream", "Gateway"]
