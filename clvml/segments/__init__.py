"""Marketer segments from per-customer predictions.

:class:`SegmentScheme` is the one definition of a customer's ``value_tier`` and
``segment``: CLV thresholds fitted on the training customers and stored with the
model; :func:`resolve_segments` reads them back from scored customers (see
``docs/segments.md``). Also: value tiers and the value x churn-risk matrix (with a
recommended action per cell) ranked within a population, classic RFM segment
names, LTV:CAC by acquisition channel, the segment summary table and CSV export of
the customer lists.
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
from clvml.segments.scheme import (
    RECORD_COLUMNS,
    SEGMENT_COLUMNS,
    SegmentScheme,
    has_record,
    resolve_segments,
)
from clvml.segments.summary import (
    assign_segments,
    export_segment_lists,
    marketing_consented,
    segment_summary,
    with_rfm,
)
from clvml.segments.tiers import DEFAULT_TIER_CUTS, DEFAULT_TIER_LABELS, value_tiers

__all__ = [
    "DEFAULT_CELLS",
    "DEFAULT_RISK_THRESHOLDS",
    "DEFAULT_TIER_CUTS",
    "DEFAULT_TIER_LABELS",
    "DEFAULT_VALUE_CUTS",
    "RECORD_COLUMNS",
    "RFM_SEGMENT_NAMES",
    "RFM_SEGMENT_RULES",
    "SEGMENT_COLUMNS",
    "MatrixCell",
    "SegmentScheme",
    "assign_segments",
    "export_segment_lists",
    "has_record",
    "ltv_cac_by_channel",
    "marketing_consented",
    "resolve_segments",
    "rfm_scores",
    "rfm_segment_name",
    "rfm_segments",
    "segment_summary",
    "validate_predictions",
    "value_risk_matrix",
    "value_risk_table",
    "value_tiers",
    "with_rfm",
]
