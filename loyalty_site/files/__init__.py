"""The file engine: staff imports (preview, then apply in checkpointed chunks), safe spreadsheet exports and
their background jobs. It knows no domain model: each app registers its import handlers
(`importing.register`) and puts `admin_exports.SafeExportAdminMixin` on its admins."""
