"""Errors of the catalog."""

from yiwang.kit.errors import Conflict, InvalidInput, NotFound


class ResourceNotFound(NotFound):
    code = "resource_not_found"


class ResourceExists(Conflict):
    code = "resource_exists"


class WrongState(Conflict):
    code = "wrong_state"


class ImportRejected(InvalidInput):
    code = "import_rejected"
