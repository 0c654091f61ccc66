"""clvml on Apache Spark: the same summaries, features, fits and scores on a cluster.

Needs the ``spark`` extra (``pip install "clvml[spark]"``: PySpark >= 4.0 and Java 17).
Submodules are imported explicitly so that ``import clvml.spark`` works without PySpark:

* :mod:`clvml.spark.session` -- a configured :class:`pyspark.sql.SparkSession`;
* :mod:`clvml.spark.validate` -- every row checked against the data contracts (as ``check_table``);
* :mod:`clvml.spark.rfm` -- RFM and calibration/holdout summaries (equal to
  :mod:`clvml.features.rfm`);
* :mod:`clvml.spark.features` -- engagement features (equal to
  :class:`clvml.features.engagement.EngagementFeatures`) and the customer frame;
* :mod:`clvml.spark.fit` -- BTYD and Gamma-Gamma fits from compressed summaries;
* :mod:`clvml.spark.score` -- scoring with the MLflow pyfunc model, written to Parquet
  or the CRM (same staging-and-merge guarantee as :mod:`clvml.scoring`).

See ``docs/scaling.md``.
"""
