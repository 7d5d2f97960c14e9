"""Helpers shared by the tests (fixtures live in conftest.py files; helpers here are imported)."""
