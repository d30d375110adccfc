"""Keys and tokens: pure, no Flask and no database."""
