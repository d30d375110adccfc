"""The service layer: every use case once, shared by the token endpoint, the CLI and the API."""
