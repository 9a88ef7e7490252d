"""Test servers and fakes used by the k2w test suite."""
