"""The operators' command line: ``python -m ops`` (see ops/cli.py and the README's operator's guide)."""
