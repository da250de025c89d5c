"""Jam mode's measurements (bench/jam.py): bar alignment, continuity at phrase boundaries, variations."""
