"""Scoring: load the champion model, score every customer, write to the CRM atomically."""

from clvml.scoring.crm import CRMSink
from clvml.scoring.job import ScoreJobResult, score_customers

__all__ = ["CRMSink", "ScoreJobResult", "score_customers"]
