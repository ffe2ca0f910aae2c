"""The REST routes; importing this package fills `arpi.http.registry.ROUTES`."""

from arpi.http.routes import (  # noqa: F401
    config,
    entities,
    monitoring,
    public,
    users,
)
