"""URL secrets are masked by one function, whatever the password holds and wherever it sits."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from clvml.data.io import DataSourceError, read_table, safe_url
from clvml.data.secrets import mask_url, scrub, url_secrets
from clvml.tracking.runlog import safe_param
from clvml.tracking.store import redact_uri


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # the cases: a password as a query parameter, a password holding '?'
        ("postgresql://db/test?password=Secr3t", "postgresql://db/test?password=***"),
        (
            "postgresql+psycopg://postgres@db/test?sslmode=require&password=p&application_name=x",
            "postgresql+psycopg://postgres@db/test?sslmode=require&password=***&application_name=x",
        ),
        ("postgresql://postgres:Secr?et_42@db:5432/test", "postgresql://postgres:***@db:5432/test"),
        (
            "postgresql://u:a@b/c#d?e%f@db/x?sslmode=require",
            "postgresql://u:***@db/x?sslmode=require",
        ),
        ("postgresql://u:Secr%3Fet@db/x", "postgresql://u:***@db/x"),
        ("postgresql://u:pw@[::1]:5432/x", "postgresql://u:***@[::1]:5432/x"),
        ("postgresql://u:pw@/x?host=/run/postgresql", "postgresql://u:***@/x?host=/run/postgresql"),
        (
            "postgresql://db/x?sslpassword=k1&passwd=k2&pwd=k3",
            "postgresql://db/x?sslpassword=***&passwd=***&pwd=***",
        ),
        (
            "https://h/api?api_key=k&Token=t&secret=s&x=1",
            "https://h/api?api_key=***&Token=***&secret=***&x=1",
        ),
        (
            "postgresql://db/x?password=a#b&sslmode=require",
            "postgresql://db/x?password=***&sslmode=require",
        ),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("sqlite:////tmp/crm.db", "sqlite:////tmp/crm.db"),
        ("data/social", "data/social"),
    ],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected
    # the other names are the same function, not copies
    assert redact_uri(url) == expected
    assert safe_url(url) == expected


def test_sqlalchemy_url_objects_are_masked_with_their_encoded_password() -> None:
    url = sa.make_url("postgresql+psycopg://u:Secr?et_42@db/x?password=q%3Fw")
    masked = mask_url(url)
    assert "Secr" not in masked and "q%3Fw" not in masked and "q?w" not in masked
    assert masked == "postgresql+psycopg://u:***@db/x?password=***"
    assert {"Secr?et_42", "q?w", "q%3Fw"} <= set(url_secrets(url))


# printable characters, the URL delimiters included, and some beyond ASCII
_CHARS = st.characters(
    codec="utf-8", categories=("L", "N", "P", "S"), include_characters="?@/#%:&=+ ;"
)
_PASSWORDS = st.text(_CHARS, min_size=4, max_size=24)


_TEMPLATES = [
    # (template, how the password is written into it)
    ("postgresql+psycopg://crm:{}@db.example:5432/shop?sslmode=require", "raw"),
    ("postgresql+psycopg://crm:{}@db.example:5432/shop", "encoded"),
    ("postgresql://db.example/shop?user=crm&password={}&sslmode=require", "encoded"),
    ("postgresql://db.example/shop?sslpassword={}", "encoded"),
    ("https://mlflow.example/api?token={}", "encoded"),
    # raw in a query: '&' starts the next parameter (as SQLAlchemy and libpq read it)
    ("postgresql://db.example/shop?password={}", "raw-query"),
]


def _written(password: str, how: str) -> str:
    if how == "encoded":
        return quote(password, safe="")
    return password.replace("&", "%26") if how == "raw-query" else password


@settings(max_examples=300, deadline=None)
@given(password=_PASSWORDS)
def test_no_generated_password_survives_masking(password: str) -> None:
    enc = quote(password, safe="")
    for template, how in _TEMPLATES:
        skeleton = template.format("")
        # a password that is part of the rest of the URL ("shop", "5432") cannot be told apart
        assume(password not in skeleton and enc not in skeleton)
        url = template.format(_written(password, how))
        masked = mask_url(url)
        assert password not in masked and enc not in masked, (url, masked)
        assert "db.example" in masked or "mlflow.example" in masked
        # in a driver's message quoting the URL or the password itself
        text = scrub(f"connection to {url} failed: bad password {password!r}", [url])
        assert password not in text and enc not in text, (url, text)


def test_mlflow_params_and_data_source_errors_mask_every_form() -> None:
    for url in (
        "postgresql+psycopg://app:Secr?et_42@127.0.0.1:1/shop",
        "postgresql+psycopg://app@127.0.0.1:1/shop?password=Secr?et_42",
    ):
        assert "Secr" not in safe_param(url)
        assert "Secr" not in safe_param([url, "x"])
        with pytest.raises(DataSourceError) as info:
            read_table(url, table="transactions")
        assert "Secr" not in str(info.value) and "***" in str(info.value)


def test_scrub_masks_every_url_in_free_text() -> None:
    text = "tried sqlite:///a.db and postgresql://u:pw1@h/x?token=t0k then gave up"
    out = scrub(text)
    assert "pw1" not in out and "t0k" not in out
    assert out == "tried sqlite:///a.db and postgresql://u:***@h/x?token=*** then gave up"


@pytest.mark.parametrize("password", ["Secr?et_42", "a@b/c#d%e"])
def test_unreachable_crm_and_data_source_errors_of_score_and_validate_are_masked(
    password: str, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    import clvml.cli.score
    import clvml.cli.validate  # noqa: F401
    from clvml.cli._app import run

    enc = quote(password, safe="")
    bad = [
        f"postgresql+psycopg://crm:{password}@127.0.0.1:1/shop",
        f"postgresql+psycopg://crm@127.0.0.1:1/shop?password={enc}",
        f"postgresql+psycopg://crm@127.0.0.1:1/shop?connect_timeout=2&password={enc}",
    ]
    for url in bad:
        for argv in (
            ["validate", "--data", url],
            ["score", "--data", url, "--crm-url", f"sqlite:///{tmp_path / 'crm.db'}"],
            ["score", "--data", str(tmp_path), "--crm-url", url],
        ):
            assert run(argv) == 2
            out, err = capsys.readouterr()
            assert password not in out + err and enc not in out + err, (argv, err)
            assert "Traceback" not in err and len(err.strip().splitlines()) == 1
