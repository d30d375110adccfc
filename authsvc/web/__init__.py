"""HTTP: thin blueprints over the service layer."""
