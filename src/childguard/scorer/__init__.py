"""The trained caption scorer: features, model, training and its CLI commands."""
