"""MLflow models-from-code definition of the clvml CLV model (see :mod:`clvml.tracking.pyfunc`).

MLflow stores this file with the model and runs it on load; it only names the
model class, whose code lives in the installed clvml package.
"""

from mlflow.models import set_model

from clvml.tracking.pyfunc import CLVPyfuncModel

set_model(CLVPyfuncModel())
