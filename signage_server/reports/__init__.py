"""Proof-of-play reports: airtime, availability, the periodic reports for the Department."""
