"""The customer sample of a training run is one rule: the local engine keeps Spark's customers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.spark


def test_numpy_xxhash64_equals_spark_sql_xxhash64(spark):
    from pyspark.sql import functions as F

    from clvml.pipelines.sample import xxhash64

    # every length from 0 to 80 bytes (the 32-byte stripes, 8/4/1-byte tails), UTF-8, UUIDs
    ids = ["x" * k for k in range(81)] + ["é☃客户" * 7, "C000123", "8f14e45f-ceea-467a-9af0"]
    frame = spark.createDataFrame(pd.DataFrame({"customer_id": ids}))
    for seed in (0, 3, 2**31 + 5):  # an int literal, and a long one above 2**31 - 1
        got = frame.select(F.xxhash64("customer_id", F.lit(seed)).alias("h")).toPandas()
        np.testing.assert_array_equal(got["h"].to_numpy(), xxhash64(ids, seed))


def test_local_sample_keeps_the_customers_spark_keeps(spark):
    from pyspark.sql import functions as F

    from clvml.pipelines.sample import sample_mask
    from clvml.spark.train import sample_customers

    ids = spark.range(50_000).select(F.concat(F.lit("c"), F.col("id")).alias("customer_id"))
    kept, n = sample_customers(ids, 5_000, seed=3)
    spark_kept = set(kept.toPandas()["customer_id"])
    local_ids = np.array([f"c{i}" for i in range(50_000)], dtype=object)
    local_kept = set(local_ids[sample_mask(local_ids, 5_000, seed=3)])
    assert n == 50_000 and local_kept == spark_kept
