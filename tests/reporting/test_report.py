"""clvml report: one self-contained, responsive HTML file in English or Spanish.

Scores come from planted values (so headline numbers can be checked exactly) or from
a real CRM table written by ``CRMSink``; the social-care section runs the real
``social_impact_report`` on data/social.
"""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvml.cli.report  # noqa: F401  (registers the command)
from clvml.cli._app import run as cli_run
from clvml.exceptions import DataValidationError
from clvml.pipelines.report import load_report_inputs
from clvml.reporting import ReportInputs, build_report
from clvml.reporting.i18n import STRINGS, fmt_number, fmt_pct, translator
from clvml.scoring.crm import CRMSink

N = 2000


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict[str, str]] = []
        self.links: list[str] = []
        self.scripts = 0
        self.meta: list[dict[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        if tag in ("link", "script", "iframe", "object", "embed"):
            self.scripts += 1
        if tag == "meta":
            self.meta.append(a)
        for key in ("src", "href"):
            if key in a and tag != "a":
                self.links.append(a[key])

    def handle_data(self, data):
        self.text.append(data)


def _parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


def planted_scores(n: int = N, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    clv = rng.lognormal(3.0, 1.0, n)
    return pd.DataFrame(
        {
            "customer_id": [f"K{i:05d}" for i in range(n)],
            "clv": clv,
            "p_alive": rng.uniform(0.2, 1.0, n),
            "churn_probability": rng.uniform(0.0, 1.0, n),
        }
    )


@pytest.fixture(scope="module")
def social():
    from clvml.data.synthetic import load_social_commerce

    return load_social_commerce()


def test_both_languages_have_the_same_keys_and_placeholders():
    assert set(STRINGS["en"]) == set(STRINGS["es"])
    fields = re.compile(r"\{(\w+)\}")
    for key, text in STRINGS["en"].items():
        assert set(fields.findall(text)) == set(fields.findall(STRINGS["es"][key])), key
    with pytest.raises(DataValidationError, match="language"):
        translator("fr")
    assert fmt_number(1234567.891, "en", 2) == "1,234,567.89"
    assert fmt_number(1234567.891, "es", 2) == "1.234.567,89"
    assert fmt_pct(0.253, "en") == "25.3%" and fmt_pct(0.253, "es") == "25,3\u00a0%"


def test_report_is_self_contained_and_responsive():
    html = build_report(ReportInputs(scores=planted_scores()), lang="en")
    p = _parse(html)
    assert p.scripts == 0  # no external stylesheet, script or frame
    assert all(src.startswith("data:image/png;base64,") for src in p.links)
    assert not re.search(r"https?://", html)  # nothing to fetch: opens offline
    assert len(p.imgs) >= 3
    for img in p.imgs:  # every image decodes as a PNG
        raw = base64.b64decode(img["src"].split(",", 1)[1])
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 2000
        assert img.get("alt")
    viewport = [m for m in p.meta if m.get("name") == "viewport"]
    assert viewport and "width=device-width" in viewport[0]["content"]
    assert "@media (max-width:640px)" in html and "img{max-width:100%;height:auto" in html
    assert '<html lang="en">' in html


def test_headline_figures_match_the_planted_scores():
    scores = planted_scores()
    html = build_report(ReportInputs(scores=scores), lang="en")
    clv = np.sort(scores["clv"].to_numpy())[::-1]
    top10 = clv[: N // 10].sum() / clv.sum()
    assert f"{N:,}" in html
    assert f"{clv.sum():,.0f}" in html  # total predicted value
    assert f"{100 * top10:.1f}%" in html
    high_risk = scores["churn_probability"] >= 0.6
    assert f"{int(high_risk.sum()):,}" in html
    share = scores.loc[high_risk, "clv"].sum() / clv.sum()
    assert f"{100 * share:.1f}%" in html


def test_spanish_report_is_in_spanish():
    scores = planted_scores()
    html = build_report(ReportInputs(scores=scores), lang="es")
    assert '<html lang="es">' in html
    text = " ".join(_parse(html).text)
    for key in ("title", "h_headline", "h_tiers", "h_matrix", "h_top_risk"):
        assert STRINGS["es"][key] in text
    for key in ("h_headline", "h_tiers", "h_matrix"):
        assert STRINGS["en"][key] not in text
    assert "Salvar ya" in text or STRINGS["es"]["none_at_risk"] in text
    assert f"{N:,}".replace(",", ".") in text  # Spanish thousands separator


def test_top_at_risk_lists_the_most_valuable_high_risk_customers():
    scores = planted_scores()
    html = build_report(ReportInputs(scores=scores), lang="en", top_n=5)
    section = html.split('id="top-risk"')[1].split("</section>")[0]
    ids = re.findall(r"<td>(K\d{5})</td>", section)
    # the high-value cell is the top 20% by CLV; high risk is churn probability >= 0.6
    rank = scores["clv"].rank(ascending=False, method="first")
    cell = scores[(rank <= 0.2 * N) & (scores["churn_probability"] >= 0.6)]
    assert ids == cell.nlargest(5, "clv")["customer_id"].tolist()


def test_sections_left_out_with_a_note(tmp_path):
    html = build_report(ReportInputs(scores=planted_scores()), lang="en")
    assert STRINGS["en"]["no_channels"] in html.replace("&#x27;", "'")
    assert "Not shown: the social-care measures need" in html
    assert "Not shown: no holdout metrics found" in html


def test_full_report_from_crm_with_data_and_comparison(tmp_path, social, capsys):
    """The path users take: CRM table + data folder + comparison table, through the CLI."""
    cust = social.customers
    rng = np.random.default_rng(1)
    scores = pd.DataFrame(
        {
            "customer_id": cust["customer_id"],
            "clv": rng.gamma(2.0, 30.0, len(cust)),
            "p_alive": rng.uniform(0, 1, len(cust)),
            "churn_probability": rng.uniform(0, 1, len(cust)),
        }
    )
    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    with CRMSink(crm) as sink:
        sink.write(scores, model_name="clvml", model_version="7", as_of="2025-06-30")
    data = tmp_path / "data"
    data.mkdir()
    for name in ("transactions", "engagement", "customers"):
        getattr(social, name).to_parquet(data / f"{name}.parquet")
    comp = pd.DataFrame(
        {"method": ["btyd", "hybrid"], "normalized_gini": [0.61, 0.64], "mae": [31.2, 29.8]}
    )
    comp.to_csv(tmp_path / "comparison.csv", index=False)
    out = tmp_path / "report.html"
    code = cli_run(
        ["report", "--out", str(out), "--crm-url", crm, "--data", str(data),
         "--comparison", str(tmp_path / "comparison.csv"), "--lang", "en"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    html = out.read_text(encoding="utf-8")
    assert "model clvml version 7" in html and "features as of 2025-06-30" in html
    # LTV:CAC by channel: every channel of the customers table, with the 3:1 verdict
    section = html.split('id="channels"')[1].split("</section>")[0]
    for channel in cust["acquisition_channel"].unique():
        assert f"<td>{channel}</td>" in section
    # social-care impact from the real module, with its causal estimate
    from clvml.evaluation.social_impact import social_impact_report

    cutoff = social.transactions["timestamp"].max().normalize() - pd.Timedelta(days=364)
    rep = social_impact_report(
        social.transactions, social.engagement, cust, cutoff=cutoff, horizon_weeks=52
    )
    itt = rep.get("causal_itt", "treated_minus_control", "retention_diff")["estimate"]
    impact = html.split('id="impact"')[1].split("</section>")[0]
    assert f"{100 * itt:.1f} pp" in impact and "<img" in impact
    perf = html.split('id="performance"')[1].split("</section>")[0]
    assert "0.640" in perf and "29.80" in perf and "<td>hybrid</td>" in perf
    assert len(_parse(html).imgs) == 5


def test_metrics_from_a_model_folder_export_json(tmp_path):
    """A models/ folder written by clvml export carries its run's holdout metrics."""
    from clvml.pipelines.report import _metrics_frame

    frame = _metrics_frame({"holdout.normalized_gini": 0.5, "other": 1.0}, "clvml")
    assert frame is not None and frame.loc["clvml", "normalized_gini"] == 0.5
    assert "other" not in frame.columns
    html = build_report(ReportInputs(scores=planted_scores(), metrics=frame), lang="es")
    perf = html.split('id="performance"')[1].split("</section>")[0]
    assert "Gini normalizado" in perf and "0,500" in perf


def test_bad_inputs_are_one_line(tmp_path, capsys):
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    out = str(tmp_path / "r.html")
    code = cli_run(["report", "--out", out, "--crm-url", empty])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "run clvml score first" in err
    code = cli_run(["report", "--out", out])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "exactly one of" in err
    planted_scores().to_csv(tmp_path / "s.csv", index=False)
    code = cli_run(["report", "--out", out, "--scores", str(tmp_path / "s.csv"), "--lang", "fr"])
    assert code == 2
    assert not Path(out).exists()
    with pytest.raises(DataValidationError):
        load_report_inputs(scores=tmp_path / "s.csv", crm_url=empty)
