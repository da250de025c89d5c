"""The score model's data, captions and training (see docs/score_model.md)."""
