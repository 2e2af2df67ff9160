"""MLflow: runs, the pyfunc model from code, registry versions and aliases."""
