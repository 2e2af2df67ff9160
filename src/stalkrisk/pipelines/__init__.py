"""Runnable pipelines: stages wired with a config, files and MLflow at the edges.

The CLI, ``mlflow run pipelines`` (see ``pipelines/MLproject``) and a scheduler
all call these same functions.
"""
