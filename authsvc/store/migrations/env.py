"""Alembic environment: run migrations on the connection authsvc hands over.

authsvc runs migrations itself (``authsvc init`` / ``authsvc db upgrade``),
so there is no alembic.ini to keep in step with the settings.
"""

from alembic import context

from authsvc.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
