"""ValidationPolicy: one object for the six validation choices, passed as one argument."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import clvml
from clvml.data.folder import check_folder
from clvml.data.policy import ValidationPolicy, resolve_policy
from clvml.data.validation import (
    check_table,
    validate_customers,
    validate_engagement,
    validate_transactions,
)
from clvml.exceptions import DataValidationError

NOW = "2024-06-30"
FIELDS = ("returns", "duplicates", "invalid", "now", "tz", "timestamp_format")


def _tx() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", None, "c"],
            "timestamp": [
                "2024-01-02 10:00",
                "2024-01-02 10:00",
                "2024-01-02 18:00",
                "2024-01-03",
                "2024-01-03",
                "2024-01-04",
                "2099-01-01",
            ],
            "amount": [5.0, 5.0, -2.0, 3.0, 3.0, 1.0, 4.0],
        }
    )


def test_is_public_frozen_and_has_the_six_fields() -> None:
    assert clvml.ValidationPolicy is ValidationPolicy
    assert "ValidationPolicy" in clvml.__all__
    assert tuple(f.name for f in dataclasses.fields(ValidationPolicy)) == FIELDS
    policy = ValidationPolicy()
    assert (policy.returns, policy.duplicates, policy.invalid, policy.tz) == (
        "error",
        "error",
        "error",
        "UTC",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.returns = "net"  # type: ignore[misc]
    assert ValidationPolicy(returns="net") == ValidationPolicy(returns="net")  # a value


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("returns", "refund", r"^returns='refund'; expected one of error, drop, net$"),
        ("duplicates", "first", r"^duplicates='first'; expected one of error, drop, keep$"),
        ("invalid", "skip", r"^invalid='skip'; expected one of error, drop$"),
    ],
)
def test_unknown_choice_fails_at_construction(field: str, value: str, match: str) -> None:
    with pytest.raises(DataValidationError, match=match) as err:
        ValidationPolicy(**{field: value})  # type: ignore[arg-type]
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    "kw",
    [
        dict(returns="net", duplicates="drop", invalid="drop", now=NOW),
        dict(returns="drop", duplicates="keep", invalid="drop", now=NOW, tz="Europe/Madrid"),
    ],
)
def test_policy_and_keywords_give_the_same_result(kw: dict) -> None:
    policy = ValidationPolicy(**kw)
    by_policy, rep_policy = validate_transactions(_tx(), policy, return_report=True)
    by_kw, rep_kw = validate_transactions(_tx(), return_report=True, **kw)
    assert_frame_equal(by_policy, by_kw)
    assert rep_policy.outcomes == rep_kw.outcomes
    assert rep_policy.outcomes  # the example exercises the policy
    frame, report = check_table(_tx(), "transactions", policy)
    assert frame is not None
    assert_frame_equal(frame, by_policy)
    assert report.outcomes == rep_policy.outcomes


def test_keywords_replace_fields_of_the_policy() -> None:
    base = ValidationPolicy(returns="net", duplicates="drop", now=NOW)
    assert resolve_policy(base, invalid="drop") == dataclasses.replace(base, invalid="drop")
    assert resolve_policy(base) is base
    assert resolve_policy() == ValidationPolicy()
    # the planted missing id is refused by the policy alone, set aside with the override
    with pytest.raises(DataValidationError, match="customer_id"):
        validate_transactions(_tx(), base)
    _, report = validate_transactions(_tx(), base, invalid="drop", return_report=True)
    assert [o.n_rows for o in report.outcomes if o.rule == "missing_id"] == [1]


def test_unknown_keyword_or_wrong_policy_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        validate_transactions(_tx(), retruns="net")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="ValidationPolicy"):
        validate_transactions(_tx(), {"returns": "net"})  # type: ignore[call-overload]


def test_one_policy_serves_every_table_and_the_folder_check(tmp_path) -> None:
    policy = ValidationPolicy(duplicates="drop", invalid="drop", now=NOW)
    ev = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "timestamp": ["2024-01-02", "2024-01-02", "2024-01-05"],
            "channel": ["email", "email", "web"],
            "kind": ["complaint", "complaint", "mention"],
            "direction": ["inbound", "inbound", "inbound"],
        }
    )
    cust = pd.DataFrame(
        {
            "customer_id": ["a", "b", None],
            "acquisition_date": ["2024-01-01", "2024-01-01", "2024-01-01"],
            "acquisition_channel": ["ads", "ads", "ads"],
            "acquisition_cost": [1.0, 2.0, 3.0],
        }
    )
    assert len(validate_engagement(ev, policy)) == 2  # the duplicate set aside
    assert len(validate_customers(cust, policy)) == 2  # the missing id set aside
    _tx().to_csv(tmp_path / "transactions.csv", index=False)
    check = check_folder(tmp_path, dataclasses.replace(policy, returns="net"))
    want = check_table(_tx(), "transactions", dataclasses.replace(policy, returns="net"))[1]
    assert check.reports["transactions"].outcomes == want.outcomes


def _library_functions():
    for info in pkgutil.walk_packages(clvml.__path__, "clvml."):
        if info.name.startswith("clvml.cli"):  # typer options, turned into a policy there
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            candidates = [obj]
            if inspect.isclass(obj):
                candidates = [m for m in vars(obj).values() if inspect.isfunction(m)]
            for fn in candidates:
                if inspect.isfunction(fn) and fn.__module__ == info.name:
                    yield f"{info.name}.{fn.__qualname__}", fn


def test_no_library_signature_spells_out_the_policy_fields() -> None:
    """Policies travel as one ``policy`` argument (or ``**keywords`` that build one)."""
    offenders = [
        name
        for name, fn in _library_functions()
        if sum(p in inspect.signature(fn).parameters for p in FIELDS) >= 3
        and name != "clvml.data.policy.ValidationPolicy.__init__"
    ]
    assert offenders == []
