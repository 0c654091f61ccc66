"""Above ``local.sample_customers``, ``clvml train`` compares and trains the supervised parts on a
hash sample of customers and fits the served model's BTYD parts on every customer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.pipelines.sample import SAMPLE_GRID, _xxh64_rows, sample_mask, sample_threshold, xxhash64


@pytest.mark.parametrize(
    ("text", "digest"),
    [  # published XXH64 test vectors (seed 0)
        (b"", 0xEF46DB3751D8E999),
        (b"a", 0xD24EC4F1A98C6E5B),
        (b"abc", 0x44BC2CF5AD770999),
        (b"Nobody inspects the spammish repetition", 0xFBCEA83C8A378BF1),
    ],
)
def test_xxh64_reproduces_the_published_vectors(text, digest):
    block = np.frombuffer(text, dtype=np.uint8).reshape(1, len(text))
    assert int(_xxh64_rows(block, np.zeros(1, dtype=np.uint64))[0]) == digest


def test_sample_is_a_reproducible_bernoulli_sample_of_the_asked_size():
    ids = np.array([f"cust-{i:07d}" for i in range(200_000)], dtype=object)
    a = sample_mask(ids, 50_000, seed=1)
    assert sample_threshold(200_000, 50_000) == SAMPLE_GRID // 4
    # Bernoulli(0.25) over 200,000 ids: sd 194; 6 sd either side
    assert abs(int(a.sum()) - 50_000) < 1_164
    # the ids alone decide: the same in another order, another with another seed
    order = np.random.default_rng(0).permutation(len(ids))
    np.testing.assert_array_equal(sample_mask(ids[order], 50_000, seed=1), a[order])
    assert not np.array_equal(sample_mask(ids, 50_000, seed=2), a)
    assert sample_mask(ids, 200_000).all()
    # bucket of each id: uniform over the grid (the rate of every quarter of it is 1/4)
    buckets = xxhash64(ids, 1) % SAMPLE_GRID
    counts = np.bincount(buckets * 4 // SAMPLE_GRID, minlength=4)
    assert (np.abs(counts - 50_000) < 1_164).all()


def test_train_samples_customers_and_fits_btyd_on_everyone(small_social, fast_config, tmp_path):
    import mlflow

    from clvml.data.io import load_tables
    from clvml.features.dataset import customer_features
    from clvml.models.methods._btyd import age_floor, fit_btyd
    from clvml.pipelines.config import load_config
    from clvml.pipelines.train import train

    cfg = load_config(fast_config).override(local_sample_customers=400)
    result = train(cfg, data=str(small_social), workdir=tmp_path)
    run = mlflow.MlflowClient(result.tracking_uri).get_run(result.run_id).data
    assert run.params["local.sampled"] == "true"
    assert run.params["resolved.evaluated_on"] == "customer sample"
    assert run.metrics["data.customers_total"] == 1000
    n = run.metrics["data.customers_sampled"]
    assert 400 - 6 * 15.5 < n < 400 + 6 * 15.5  # Bernoulli(0.4) over 1,000: sd 15.5
    assert {"time.sample_customers", "time.fit_BTYD"} <= set(run.metrics)
    model = result.model
    assert model.n_customers_ < 1000
    # the served model's BG/NBD and Gamma-Gamma: fitted on every customer, not the sample
    tx = load_tables(str(small_social))["transactions"]
    tx = tx.assign(timestamp=pd.to_datetime(tx["timestamp"]))
    everyone = age_floor(customer_features(tx, cutoff=result.calibration_end))
    bg, gg = fit_btyd(everyone)
    assert model.btyd_params_ == pytest.approx({**bg.params_, **gg.params_}, rel=1e-6)
    assert len(everyone) > model.n_customers_


def test_no_sample_below_the_limit(small_social, fast_config, tmp_path):
    import mlflow

    from clvml.pipelines.train import train

    result = train(fast_config, data=str(small_social), workdir=tmp_path)
    run = mlflow.MlflowClient(result.tracking_uri).get_run(result.run_id).data
    assert run.params["local.sampled"] == "false"
    assert run.metrics["data.customers_total"] == run.metrics["data.customers_sampled"] == 1000
    assert "time.sample_customers" not in run.metrics
