"""A second factor for staff (django-otp): TOTP apps plus one-time recovery codes, required for every admin page
when the setting STAFF_OTP_REQUIRED is on.

The admin site is replaced by `StaffAdminSite` (through `StaffAdminConfig.default_site`, so every
`admin.site.register` keeps working): with the setting on, a staff member who signed in with a password but
not with a second factor has no permission on any admin page and is sent to enter a code, or, without a
device yet, to set one up. Knows no domain model.
"""
