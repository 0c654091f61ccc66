"""clvml on Apache Spark: the same summaries, features, fits and scores on a cluster.

Needs the ``spark`` extra (``pip install "clvml[spark]"``: PySpark >= 4.0 and Java 17).
Submodules are imported explicitly so that ``import clvml.spark`` works without PySpark:

* :mod:`clvml.spark.session` -- a configured :class:`pyspark.sql.SparkSession`;
* :mod:`clvml.spark.io` -- the tables from a Parquet folder (any file system Spark reads)
  or a catalog database (``table:<database>``);
* :mod:`clvml.spark.validate` -- every row checked against the data contracts (as ``check_table``);
* :mod:`clvml.spark.rfm` -- RFM and calibration/holdout summaries (equal to
  :mod:`clvml.features.rfm`);
* :mod:`clvml.spark.features` -- engagement features (equal to
  :class:`clvml.features.engagement.EngagementFeatures`) and the customer frame;
* :mod:`clvml.spark.fit` -- BTYD and Gamma-Gamma fits from compressed summaries;
* :mod:`clvml.spark.score` -- scoring with the MLflow pyfunc model, written to Parquet
  or the CRM (same staging-and-merge guarantee as :mod:`clvml.scoring`);
* :mod:`clvml.spark.job` -- the batch scoring job (``clvml score --engine spark``);
* :mod:`clvml.spark.train` -- training (``clvml train --engine spark``): BTYD on every
  customer, the rest on a customer sample, logged and registered in MLflow.

See ``docs/scaling.md``.
"""
