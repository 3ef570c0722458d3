"""The code MLflow logs as the registered model (models from code, see h2rec.lifecycle.pyfunc).

MLflow runs this file when the model is loaded, in place of unpickling a Python object; the
`h2rec` package travels with the model as its code, and the trained weights and tables come
from the model's `bundle` artifact (checkpoints are read with torch.load(weights_only=True)).
Nothing in the project imports this module.
"""

from mlflow.models import set_model

from h2rec.lifecycle.pyfunc import RecommenderPyfunc

set_model(RecommenderPyfunc())
