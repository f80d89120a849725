"""Command-line tools for people: preview, the local stand-ins, demo and benchmarks."""

import sys
from pathlib import Path

# The Lambda asset root is `functions/`: put it on the path, as Lambda does, for every tool.
_FUNCTIONS = str(Path(__file__).resolve().parent.parent / "functions")
if _FUNCTIONS not in sys.path:
    sys.path.insert(0, _FUNCTIONS)
