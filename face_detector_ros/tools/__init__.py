"""Console scripts: each module here has a main() named in setup.py."""
