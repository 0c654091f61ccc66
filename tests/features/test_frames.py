"""CustomerFrame and FrameBuilder: each cut-off built once, each text scored once per run."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from clvml.evaluation.comparison import compare_methods
from clvml.features import dataset, engagement, frames
from clvml.features.dataset import customer_features
from clvml.features.frames import CustomerFrame, FrameBuilder
from clvml.models.training import fit_clv_model


@pytest.fixture(scope="module")
def world(make_world):
    return make_world(600, random_state=8)


def test_builder_frames_equal_customer_features_and_are_memoised(world):
    w = world
    c = w.calibration_end - pd.Timedelta(days=1)
    builder = FrameBuilder(w.transactions, w.engagement, w.customers)
    cf = builder.at(c)
    assert isinstance(cf, CustomerFrame) and cf.cutoff == c and cf.time_unit == "W"
    assert builder.at(str(c.date())) is cf and builder.at(c + pd.Timedelta(hours=13)) is cf
    # the pre-scored sentiment gives exactly the frame customer_features builds itself
    pd.testing.assert_frame_equal(cf.frame, customer_features(*_tables(w), cutoff=c))
    with pytest.raises(TypeError, match="DataFrame"):
        CustomerFrame(frame=[1, 2], cutoff=c)


def _tables(w):
    return w.transactions, w.engagement, w.customers


def test_one_run_builds_each_cutoff_once_and_scores_each_text_once(world, monkeypatch):
    w = world
    built: Counter[pd.Timestamp] = Counter()
    scored: Counter[str] = Counter()
    calls = []
    real_features, real_scores = dataset.customer_features, frames.sentiment_scores

    def counting_features(*args, cutoff, **kwargs):
        built[pd.Timestamp(cutoff)] += 1
        return real_features(*args, cutoff=cutoff, **kwargs)

    def counting_scores(texts, language=None, **kwargs):
        calls.append(len(texts))
        scored.update(str(t) for t in pd.Series(list(texts)).dropna())
        return real_scores(texts, language, **kwargs)

    def no_scoring(*args, **kwargs):
        raise AssertionError("the engagement features scored texts again")

    monkeypatch.setattr(dataset, "customer_features", counting_features)
    monkeypatch.setattr(frames, "sentiment_scores", counting_scores)
    monkeypatch.setattr(engagement, "sentiment_scores", no_scoring)

    c = w.calibration_end - pd.Timedelta(days=1)
    h_end = w.observation_end - pd.Timedelta(days=1)
    builder = FrameBuilder(*_tables(w))
    kw = {"methods": ("btyd", "ml"), "max_iter": 20}
    res = compare_methods(
        *_tables(w), calibration_end=c, holdout_end=h_end, supervised="time", frames=builder, **kw
    )
    fit_clv_model(*_tables(w), cutoff=c, horizon_weeks=res.horizon_weeks, frames=builder, **kw)
    c0 = c - (h_end - c)
    assert dict(built) == {c: 1, c0: 1}
    # every distinct text once: the inbound texts were scored in one call, no text twice
    inbound = w.engagement["direction"].str.lower().eq("inbound")
    texts = w.engagement.loc[inbound, "text"].dropna().astype(str)
    assert len(calls) == 1 and scored.keys() == set(texts)
    assert sum(scored.values()) == len(texts)  # one call over the events, nothing repeated
