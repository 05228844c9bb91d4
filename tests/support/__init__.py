"""Helpers shared by the tests (on sys.path through tests/conftest.py)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
