"""The data contracts: what clvml expects of its inputs.

A contract is plain data: a table name, its columns (name, kind, whether it is
required, allowed values, a one-line meaning) and the columns that must be
unique. :mod:`clvml.data.validation` reads these declarations to check a frame;
``docs/data_contracts.md`` explains them for people.

Column kinds and the dtype a validated frame has for them:

==============  ==============================================================
kind            dtype after validation
==============  ==============================================================
``id``          ``str`` (integers become their decimal text; never float text)
``timestamp``   ``datetime64[us]``, time-zone naive, in UTC
``amount``      ``float64``, finite
``count``       ``int64`` (``Int64`` when an optional column has gaps), >= 0
``category``    ``str``, lower-cased, one of ``allowed``
``text``        ``str``
``flag``        ``bool`` (``boolean`` when an optional column has gaps)
==============  ==============================================================

Examples
--------
>>> from clvml.data.contracts import TRANSACTIONS
>>> TRANSACTIONS.required
('customer_id', 'timestamp', 'amount')
>>> TRANSACTIONS.column("amount").kind
'amount'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CHANNELS",
    "CONTRACTS",
    "CUSTOMERS",
    "DIRECTIONS",
    "ENGAGEMENT",
    "KINDS",
    "LANGUAGES",
    "MAX_AMOUNT",
    "MAX_COLUMNS",
    "MAX_COUNT",
    "MAX_ID_LENGTH",
    "MAX_TEXT_LENGTH",
    "PERIODS",
    "SUBSCRIPTIONS",
    "TRANSACTIONS",
    "Column",
    "ColumnKind",
    "Contract",
]

#: The bounds every input is held to (docs/data_contracts.md, "Bounds"). They keep every
#: check linear and every sum finite whatever a file holds.
#: Most columns a table may have; a wider file is refused before it is parsed.
MAX_COLUMNS = 10_000
#: Longest identifier, in characters; a longer id is a row-level problem (``id_too_long``).
MAX_ID_LENGTH = 256
#: Largest absolute money amount of one row; a larger one is a row-level problem
#: (``amount_out_of_range``). Sums of up to 2**53 such rows stay finite in float64.
MAX_AMOUNT = 1e15
#: Largest count (``quantity``, ``reach``): counts are int64, so they must be below 2**63.
MAX_COUNT = 2**63 - 1
#: Longest text kept, in characters: longer texts are cut to their first MAX_TEXT_LENGTH
#: characters (rule ``text_truncated``, action "adjusted", counted in the report), so
#: the time spent on one text is bounded.
MAX_TEXT_LENGTH = 10_000

ColumnKind = Literal["id", "timestamp", "amount", "count", "category", "text", "flag"]

#: Where an engagement event happened.
CHANNELS: tuple[str, ...] = (
    "twitter",
    "facebook",
    "instagram",
    "linkedin",
    "email",
    "web",
    "app",
    "phone",
)

#: What kind of interaction an engagement event is.
KINDS: tuple[str, ...] = (
    "reply",
    "mention",
    "like",
    "share",
    "retweet",
    "comment",
    "direct_message",
    "email_open",
    "email_click",
    "site_visit",
    "self_help_view",
    "complaint",
    "review",
)

#: ``inbound``: from the customer; ``outbound``: from the brand or its care team.
DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")

#: Billing periods of a subscription: one renewal a calendar month or a calendar year.
PERIODS: tuple[str, ...] = ("month", "year")

#: Languages of engagement texts that the sentiment features support.
LANGUAGES: tuple[str, ...] = ("en", "es")


@dataclass(frozen=True)
class Column:
    """One column of a contract.

    Parameters
    ----------
    name : str
        Column name, exactly as it must appear in the data.
    kind : {"id", "timestamp", "amount", "count", "category", "text", "flag"}
        How values are parsed and checked (see the module docstring).
    required : bool
        Required columns must exist and have no missing values; optional
        columns may be absent or have gaps.
    description : str
        What the column means, for documentation and error messages.
    allowed : tuple of str, optional
        For ``category`` columns: the allowed values (lower case).
    """

    name: str
    kind: ColumnKind
    required: bool
    description: str
    allowed: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Contract:
    """The contract of one input table.

    Parameters
    ----------
    name : str
        Table name; also the file stem looked for in a data folder.
    description : str
        What one row is.
    columns : tuple of Column
        Every column clvml knows about. Other columns pass through unchanged.
    unique : tuple of str
        Columns whose values must be unique (a key), or empty.
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    unique: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the required columns."""
        return tuple(c.name for c in self.columns if c.required)

    @property
    def optional(self) -> tuple[str, ...]:
        """Names of the optional columns."""
        return tuple(c.name for c in self.columns if not c.required)

    def column(self, name: str) -> Column:
        """Return the column called ``name`` (KeyError if the contract has none)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"the {self.name} contract has no column {name!r}")


TRANSACTIONS = Contract(
    name="transactions",
    description="One purchase (or, with a negative amount, one return or refund).",
    columns=(
        Column("customer_id", "id", True, "Who bought."),
        Column("timestamp", "timestamp", True, "When the purchase happened."),
        Column(
            "amount",
            "amount",
            True,
            "Money spent, in one currency; 0 allowed; negative means a return or refund.",
        ),
        Column("order_id", "id", False, "Identifier of the order, if known."),
        Column("quantity", "count", False, "Number of items bought."),
    ),
)

ENGAGEMENT = Contract(
    name="engagement",
    description="One interaction between a customer and the brand on a channel.",
    columns=(
        Column("customer_id", "id", True, "Who interacted."),
        Column("timestamp", "timestamp", True, "When."),
        Column("channel", "category", True, "Where it happened.", CHANNELS),
        Column("kind", "category", True, "What kind of interaction it is.", KINDS),
        Column(
            "direction",
            "category",
            True,
            "'inbound' = from the customer, 'outbound' = from the brand or care team.",
            DIRECTIONS,
        ),
        Column("text", "text", False, "The message text, if any."),
        Column("language", "category", False, "Language of the text.", LANGUAGES),
        Column("reach", "count", False, "Audience size of the post (for advocacy)."),
        Column(
            "resolved",
            "flag",
            False,
            "On outbound care replies: did the reply resolve the customer's issue.",
        ),
    ),
)

CUSTOMERS = Contract(
    name="customers",
    description="One customer, with how and at what cost they were acquired.",
    columns=(
        Column("customer_id", "id", True, "The customer; unique."),
        Column("acquisition_date", "timestamp", True, "When the customer was acquired."),
        Column("acquisition_channel", "text", True, "How (e.g. paid_search, referral, organic)."),
        Column("acquisition_cost", "amount", True, "Cost of acquiring them; >= 0."),
        Column("segment", "text", False, "A business segment label."),
        Column(
            "control_group",
            "flag",
            False,
            "True for the randomised group the social care team does not answer.",
        ),
        Column(
            "consent_profiling",
            "flag",
            False,
            "Consent to profiling: False (or missing) scores the customer on transactions "
            "only, without engagement, text or sentiment features (docs/governance.md).",
        ),
        Column(
            "consent_marketing",
            "flag",
            False,
            "Consent to marketing: False (or missing) keeps the customer off every marketing "
            "export list (clvml segments --export).",
        ),
    ),
    unique=("customer_id",),
)

SUBSCRIPTIONS = Contract(
    name="subscriptions",
    description=(
        "One subscription spell of a contractual customer: from its start to its "
        "cancellation (no end while active). A customer who cancels and comes back has "
        "one row per spell; spells of one customer must not overlap."
    ),
    columns=(
        Column("customer_id", "id", True, "Who subscribed."),
        Column("start", "timestamp", True, "When the subscription began (its first billing)."),
        Column(
            "end",
            "timestamp",
            False,
            "When it was cancelled; empty while the subscription is active. Not before start.",
        ),
        Column("period", "category", True, "How often it renews: month or year.", PERIODS),
        Column("plan", "text", False, "The plan's name (e.g. basic, premium)."),
        Column("price_per_period", "amount", False, "Price billed each period; >= 0."),
    ),
)

#: The input contracts by table name, in the order a data folder is read.
CONTRACTS: dict[str, Contract] = {
    c.name: c for c in (TRANSACTIONS, ENGAGEMENT, CUSTOMERS, SUBSCRIPTIONS)
}
