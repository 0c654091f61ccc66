"""Marketer segments from per-customer predictions.

Value tiers by predicted CLV, the value x churn-risk matrix with a recommended
action per cell, classic RFM segment names, LTV:CAC by acquisition channel,
the segment summary table and CSV export of the customer lists.
"""

from clvml.segments._validation import validate_predictions
from clvml.segments.ltv_cac import ltv_cac_by_channel
from clvml.segments.matrix import (
    DEFAULT_CELLS,
    DEFAULT_RISK_THRESHOLDS,
    DEFAULT_VALUE_CUTS,
    MatrixCell,
    value_risk_matrix,
    value_risk_table,
)
from clvml.segments.rfm_segments import (
    RFM_SEGMENT_NAMES,
    RFM_SEGMENT_RULES,
    rfm_scores,
    rfm_segment_name,
    rfm_segments,
)
from clvml.segments.summary import assign_segments, export_segment_lists, segment_summary
from clvml.segments.tiers import DEFAULT_TIER_CUTS, DEFAULT_TIER_LABELS, value_tiers

__all__ = [
    "DEFAULT_CELLS",
    "DEFAULT_RISK_THRESHOLDS",
    "DEFAULT_TIER_CUTS",
    "DEFAULT_TIER_LABELS",
    "DEFAULT_VALUE_CUTS",
    "RFM_SEGMENT_NAMES",
    "RFM_SEGMENT_RULES",
    "MatrixCell",
    "assign_segments",
    "export_segment_lists",
    "ltv_cac_by_channel",
    "rfm_scores",
    "rfm_segment_name",
    "rfm_segments",
    "segment_summary",
    "validate_predictions",
    "value_risk_matrix",
    "value_risk_table",
    "value_tiers",
]
