"""The scoring output folder: what it holds and how it is read back."""
