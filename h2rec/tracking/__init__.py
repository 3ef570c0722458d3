"""MLflow tracking: one run per training, resumed by the evaluation that follows it.

`tags` gathers what identifies a run (dataset, data version, git commit, model, loss, seed);
`run` wraps the MLflow calls the stages make. MLflow is imported only when a run is opened.
"""
