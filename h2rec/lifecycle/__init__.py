"""Model lifecycle: registration, the champion gate, and serving the registered model."""
