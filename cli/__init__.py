"""The `bytepatch` command-line app (installed as `bytepatch.cli`)."""
