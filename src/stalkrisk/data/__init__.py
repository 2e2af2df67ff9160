"""The data contract and reading: columns as data, readers, case-aligned parts, id look-ups."""
