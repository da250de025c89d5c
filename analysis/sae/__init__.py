"""SAE research: from a trained SAE to sliders whose names say what they measurably do."""
