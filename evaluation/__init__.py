"""Evaluation of ChatNT answers: parsing, metrics, calibrated confidence and attribution maps."""
