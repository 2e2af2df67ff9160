"""Validation against the data contract: Great Expectations suites, whole files or part by part."""
