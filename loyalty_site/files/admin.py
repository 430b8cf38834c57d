"""The admin pages of imports and background exports (registered by importing their modules)."""

from . import admin_exports, admin_imports  # noqa: F401  register ImportJobAdmin and ExportJobAdmin
