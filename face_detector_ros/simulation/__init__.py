"""Test, benchmark and demo input and harness (not robot runtime)."""
