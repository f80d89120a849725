"""Shared library behind the forwarders: parse -> normalise -> render -> deliver."""
