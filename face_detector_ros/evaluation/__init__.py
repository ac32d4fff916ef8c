"""Measuring: detection metrics (AP), MOT metrics and rates."""
