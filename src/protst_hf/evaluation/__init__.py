"""Evaluation: retrieval metrics (more to come: benchmark tasks, metrics, indexes)."""

from .retrieval import retrieval_metrics

__all__ = ["retrieval_metrics"]
