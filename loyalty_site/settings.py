"""Settings for the loyalty platform, read from environment variables (see docs/configuration.md)."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)
_INSECURE_DEV_KEY = "django-insecure-demo-key-only-for-local-development"
SECRET_KEY = os.environ.get("SECRET_KEY", _INSECURE_DEV_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for a local demo).")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "loyalty_site.staff_otp.apps.StaffAdminConfig",  # django.contrib.admin with a second factor for staff
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Before login_throttle, whose admin replaces their device admins by one "reset" action on users.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "loyalty_site.login_throttle.apps.AxesConfig",  # django-axes, with a translated name
    "loyalty_site.login_throttle",
    "django_htmx",
    "csp",
    "import_export",
    "django_celery_beat",  # schedules staff edit in the admin (campaign sweeps, journeys)
    "loyalty_site.files",  # the import/export engine and its jobs; knows no domain model
    "members",
    "rewards",
    "rewards.engagement",  # challenges, badges, leaderboards, referrals, birthday bonuses (label engagement)
    "campaigns",
    "analytics",
    "loyalty_site.demo",  # demo_seed: above every app it fills
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy with a per-request nonce on every response (members/accounts/csp.py).
    "members.accounts.csp.PortalCSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of the member's choice (cookie set by the switcher and at login), never Accept-Language.
    "members.accounts.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): signed in with a second factor
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as axes asks: turns a login refused during a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "loyalty_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "csp.context_processors.nonce",
            ],
        },
    },
]

WSGI_APPLICATION = "loyalty_site.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs web and worker against one SQLite file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
elif env_bool("DATABASE_SERVER_SIDE_BINDING", False):
    # Opt-in. Parameters bound by the server, so psycopg prepares a query the fifth time a connection runs it
    # and PostgreSQL stops planning it anew (a till's purchase_post: docs/benchmarks.md). Off by default: the
    # server then refuses a statement with more than 65,535 parameters, which Django does not split for
    # (a bulk_create or ORM delete of tens of thousands of rows), and poolers in transaction mode may not
    # keep prepared statements.
    DATABASES["default"]["OPTIONS"] = {"server_side_binding": True}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Argon2 first: new and changed passwords are hashed with it; older hashes still verify and are upgraded at login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The site speaks the programme's language unless the member chose another one: with the switcher
# (Django's set_language, which sets the language cookie) or in their profile (applied when they log in).
# Accept-Language is not followed: it gave English dates inside Polish pages. (ChosenLanguageMiddleware, not
# Django's LocaleMiddleware.)
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "pl")
LANGUAGES = [("pl", "Polski"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["loyalty_site.formats"]  # 06.12.2026 in Polish (loyalty_site/formats/pl)
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Warsaw")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]

MEDIA_URL = "media/"
# Uploaded import files live here until their job is done; never served publicly.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
# Public images (reward pictures, partner logos: rewards.media): a folder and URL of their own, never the private
# MEDIA_ROOT above. DEBUG serves them; production lets the web server do it (docs/deploy.md).
PUBLIC_MEDIA_URL = os.environ.get("PUBLIC_MEDIA_URL", "/public-media/")
PUBLIC_MEDIA_ROOT = Path(os.environ.get("PUBLIC_MEDIA_ROOT", BASE_DIR / "var" / "public-media"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # bigger uploads stream to a temporary file

# Login throttling (django-axes, loyalty_site/login_throttle; docs/configuration.md). Failed logins on the portal
# and the admin are recorded in the database, per account and per client address. After LOGIN_FAILURE_LIMIT
# failures of one username (whether or not it exists), each within LOGIN_COOLOFF_MINUTES of the previous, every
# further login to it is refused with HTTP 429, the right password too, until the period has passed or staff
# unlock it. One address gets a separate, higher limit: shops and mobile carriers put many members behind one.
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
LOGIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("LOGIN_ADDRESS_FAILURE_LIMIT", "50"))  # 0: no per-address limit
LOGIN_COOLOFF_MINUTES = int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15"))
# Proxies in front of Django that append the client's address to X-Forwarded-For (nginx: 1). 0 trusts no header.
LOGIN_TRUSTED_PROXY_COUNT = int(os.environ.get("LOGIN_TRUSTED_PROXY_COUNT", "0"))
if LOGIN_FAILURE_LIMIT < 1 or LOGIN_COOLOFF_MINUTES < 1 or LOGIN_ADDRESS_FAILURE_LIMIT < 0:
    raise ImproperlyConfigured(
        "LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF_MINUTES must be 1 or more, LOGIN_ADDRESS_FAILURE_LIMIT 0 or more."
    )
AUTHENTICATION_BACKENDS = [
    "loyalty_site.login_throttle.backends.LoginThrottleBackend",  # first: refuses a locked-out login unchecked
    # Django's ModelBackend, finding the login by username (staff), email, phone, card or member number.
    "members.accounts.backends.MemberLoginBackend",
]
# Every way of naming one account (email, phone, card number, username) counts against that one account.
AXES_USERNAME_CALLABLE = "members.accounts.identifiers.throttle_username"
AXES_HANDLER = "loyalty_site.login_throttle.handlers.LoginThrottleHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own; the address limit is the handler's
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
# Attempts during a lockout are not counted, so a lockout ends LOGIN_COOLOFF_MINUTES after the failure that set it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True  # a successful login clears the account's failures (not the address's)
AXES_CLIENT_IP_CALLABLE = "loyalty_site.login_throttle.addresses.client_address"
AXES_LOCKOUT_CALLABLE = "loyalty_site.login_throttle.responses.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# Successful logins are not needed for throttling; keeping every member's login address would be personal data
# kept for no purpose.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False  # no "AXES: BEGIN" banner in the log of every process and manage.py command

LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:login"
# Portal accounts (members.accounts): how long a claim code or link and an email verification link stay valid,
# how many wrong codes a claim allows before the code is spent, and from how many rows a member's data export
# is written in the background (Celery) rather than in the request.
PORTAL_CLAIM_CODE_MINUTES = int(os.environ.get("PORTAL_CLAIM_CODE_MINUTES", "30"))
PORTAL_CLAIM_CODE_ATTEMPTS = int(os.environ.get("PORTAL_CLAIM_CODE_ATTEMPTS", "5"))
PORTAL_VERIFY_EMAIL_DAYS = int(os.environ.get("PORTAL_VERIFY_EMAIL_DAYS", "3"))
PORTAL_EXPORT_BACKGROUND_ROWS = int(os.environ.get("PORTAL_EXPORT_BACKGROUND_ROWS", "2000"))
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24  # one day for a password reset link

# Content-Security-Policy (django-csp 4): scripts and styles only from our own static files or carrying the
# request's nonce; no inline style attributes. The admin's own templates use inline styles, so its pages get
# 'unsafe-inline' for styles only (members/accounts/csp.py).
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

# Staff must sign in to the admin with a second factor (TOTP app or a recovery code) when this is on;
# each staff member sets up their app at the first sign-in (loyalty_site/staff_otp).
STAFF_OTP_REQUIRED = env_bool("STAFF_OTP_REQUIRED", default=False)
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Program lojalnościowy")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # no one reads another person's TOTP secret

# Security: secure by default, relaxed only by DEBUG for the local demo.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Email and SMS. Without settings, mail goes to the console (demo); SMS_BACKEND is used by campaigns.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Program lojalnościowy <noreply@localhost>")
# SMS_BACKEND: "outbox" (demo: the SmsOutbox table in the admin), "http" (SMS_API_URL with SMS_API_TOKEN), or a
# dotted path to a class with send(phone, text) (campaigns/sms.py). Email: any Django or django-anymail backend
# (e.g. EMAIL_BACKEND=anymail.backends.mailgun.EmailBackend with ANYMAIL={...}; see docs/campaigns.md).
SMS_BACKEND = os.environ.get("SMS_BACKEND", "outbox")
SMS_API_URL = os.environ.get("SMS_API_URL", "")
SMS_API_TOKEN = os.environ.get("SMS_API_TOKEN", "")
SMS_SENDER = os.environ.get("SMS_SENDER", "Lojalni")
# Where links in messages (unsubscribe, tracking) point: the public address of this site.
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000")
# The token the SMS gateway's webhook for replies (STOP) must send; empty: SMS_API_TOKEN.
SMS_INBOUND_TOKEN = os.environ.get("SMS_INBOUND_TOKEN", "")

# Celery. The demo default needs no server: a worker in its own process takes tasks from a folder.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_FOLDER = Path(os.environ.get("CELERY_BROKER_FOLDER", BASE_DIR / "var" / "broker"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("queue", "processed", "control"):
        (CELERY_BROKER_FOLDER / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        "store_processed": False,
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
# Staff file work (import previews and confirms, background exports) has a queue of its own, so a huge or
# hostile file never holds up campaign sends or the points jobs; workers must consume it (`-Q celery,files`).
CELERY_TASK_ROUTES = {
    "loyalty_site.files.tasks.import_preview_task": {"queue": "files"},
    "loyalty_site.files.tasks.import_apply_task": {"queue": "files"},
    "loyalty_site.files.tasks.export_job_task": {"queue": "files"},
}
# Time limits of those tasks (seconds): the soft one stops the job cleanly with a message, the hard one kills it.
FILE_TASK_SOFT_TIME_LIMIT = int(os.environ.get("FILE_TASK_SOFT_TIME_LIMIT", "1800"))
FILE_TASK_TIME_LIMIT = int(os.environ.get("FILE_TASK_TIME_LIMIT", str(FILE_TASK_SOFT_TIME_LIMIT + 120)))
# Beat reads its schedule from the database (django-celery-beat) so staff edit it in the admin; the entries
# below are written there at start. Campaign and journey schedules are rows created by campaigns/migrations.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "export-files-cleanup": {"task": "loyalty_site.files.tasks.export_files_cleanup_task", "schedule": 3600.0 * 6},
    "import-files-cleanup": {"task": "loyalty_site.files.tasks.import_files_cleanup_task", "schedule": 3600.0 * 6},
    "points-release-pending": {"task": "rewards.tasks.points_release_pending_task", "schedule": 3600.0},
    "points-expire": {"task": "rewards.tasks.points_expire_task", "schedule": 3600.0 * 6},
    "tiers-recalculate": {"task": "rewards.tasks.tiers_recalculate_task", "schedule": 3600.0 * 24},
    "ledger-reconcile": {"task": "rewards.tasks.ledger_reconcile_task", "schedule": crontab(hour=3, minute=30)},
    # After the reconcile: this month's RFM/CLV scores and the dashboard's last 30 days (analytics).
    "analytics-snapshot": {"task": "analytics.tasks.analytics_snapshot_task", "schedule": crontab(hour=4, minute=15)},
    "vouchers-expire": {"task": "rewards.tasks.vouchers_expire_task", "schedule": 3600.0},
    "birthday-bonuses": {
        "task": "rewards.engagement.tasks.birthday_bonuses_task",
        "schedule": crontab(hour=6, minute=0),
    },
    "engagement-daily": {
        "task": "rewards.engagement.tasks.engagement_daily_task",
        "schedule": crontab(hour=4, minute=0),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs every login attempt and clean-up at INFO; lockouts (WARNING) are what staff need.
    "loggers": {"axes": {"level": "WARNING"}},
}

# Import-export: the staff who may import or export are decided by model permissions.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
# Formula neutralisation is ours (loyalty_site/files/tabular/formulas.py): the library's setting only
# strips a leading "=".
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False
# The permission staff need to see personal data: to export it, and unmasked in an import's preview and
# reports (loyalty_site.files knows it only by this name; members defines it).
PERSONAL_DATA_PERMISSION = "members.view_member_personal_data"
# Exports: lists longer than this are written by a Celery task (loyalty_site.files.exports); their files
# are kept this many days.
EXPORT_BACKGROUND_ROWS = int(os.environ.get("EXPORT_BACKGROUND_ROWS", "5000"))
EXPORT_FILES_KEEP_DAYS = int(os.environ.get("EXPORT_FILES_KEEP_DAYS", "7"))
# Imports: processes a big purchases import posts its points in (PostgreSQL; 1 = in the worker's own process).
IMPORT_WORKERS = int(os.environ.get("IMPORT_WORKERS", "2"))
# Imports: uploaded files are deleted this many days after the import ended or was left unconfirmed.
IMPORT_FILES_KEEP_DAYS = int(os.environ.get("IMPORT_FILES_KEEP_DAYS", "7"))
