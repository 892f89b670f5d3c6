"""Imports every package's tables so that Alembic and ``create_all`` see them all.

A new network adds its ``models`` module here.
"""

from yiwang.catalog import models as catalog_models
from yiwang.exchange import models as exchange_models
from yiwang.identity import models as identity_models
from yiwang.kit import accesslog as accesslog_models
from yiwang.kit import audit as audit_models
from yiwang.kit import ledger as ledger_models
from yiwang.kit import merkle as merkle_models
from yiwang.registry import models as registry_models
from yiwang.sharing import models as sharing_models

__all__ = [
    "accesslog_models",
    "audit_models",
    "catalog_models",
    "exchange_models",
    "identity_models",
    "ledger_models",
    "merkle_models",
    "registry_models",
    "sharing_models",
]
