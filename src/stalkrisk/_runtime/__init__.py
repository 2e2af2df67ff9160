"""Process-level speed machinery (forks, preloading, GC); only pipelines import it."""
