"""Settings for Airbyte Console.

Everything comes from the environment through the small typed helpers in
``airbyte_console.env``. The defaults are the embedded ones, so a fresh checkout runs
with no variables set: SQLite (WAL) and a filesystem Celery broker under ``var/``, and
secret keys generated once into ``var/`` with mode 0600.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from airbyte_console import env

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = env.path("CONSOLE_DATA_DIR", BASE_DIR / "var")
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.boolean("DJANGO_DEBUG", False)
SECRET_KEY = env.secret(
    "DJANGO_SECRET_KEY", generated_file=DATA_DIR / "secret_key", generator="django"
)
ALLOWED_HOSTS = env.str_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.str_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# A comma-separated list is accepted for key rotation: the first key encrypts, every
# key decrypts (MultiFernet). ``manage.py airbyte credentials rotate-key`` re-encrypts.
FIELD_ENCRYPTION_KEY = env.fernet_keys(
    "FIELD_ENCRYPTION_KEY", generated_file=DATA_DIR / "field_encryption_key"
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_prometheus",
    "encrypted_model_fields",
    "axes",
    "ninja",
    "apps.core",
    "apps.audit",
    "apps.accounts",
    "apps.workspaces",
    "apps.credentials",
    "apps.connectors",
    "apps.connectors.builder",
    "apps.engines",
    "apps.engines.embedded",
    "apps.connections",
    "apps.webhooks",
    "apps.schedules",
    "apps.transforms",
    "apps.airbyte",
    "apps.api",
    "apps.ops",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Times in the person's zone (their profile, else their browser's, else UTC).
    "apps.accounts.timezones.TimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.HtmxMessagesMiddleware",
    "apps.audit.middleware.AuditContextMiddleware",
    # A wrong method under /api/ answers a problem body, as every other API error.
    "apps.api.api.MethodNotAllowedMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "airbyte_console.urls"
WSGI_APPLICATION = "airbyte_console.wsgi.application"
ASGI_APPLICATION = "airbyte_console.asgi.application"

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
                "apps.workspaces.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.database(
        "DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'console.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a worker writes; IMMEDIATE transactions take
    # the write lock up front, so concurrent writers wait instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
DATABASES["default"]["ENGINE"] = DATABASES["default"]["ENGINE"].replace(
    "django.db.backends.", "django_prometheus.db.backends."
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Email (any case) or username; emails are unique (apps/accounts/backends.py).
    "apps.accounts.backends.EmailOrUsernameBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "workspaces:home"
LOGOUT_REDIRECT_URL = "accounts:login"

# --- People: workspace creators, invitations and mail (issue #18) -----------------
# `staff`: only console staff (is_staff) may create workspaces; `anyone`: any user.
CONSOLE_WORKSPACE_CREATORS = env.choice(
    "CONSOLE_WORKSPACE_CREATORS", ("anyone", "staff"), "anyone"
)
# Invitations, password resets and notification emails. `file` (the default) writes
# each message to EMAIL_FILE_PATH, `console` prints it to the log, `smtp` sends it.
# Until mail is sent by SMTP nobody receives it, so an invitation's link is shown to
# the admin who sent it.
CONSOLE_EMAIL = env.choice("CONSOLE_EMAIL", ("file", "console", "smtp"), "file")
EMAIL_BACKEND = {
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
}[CONSOLE_EMAIL]
EMAIL_FILE_PATH = env.path("EMAIL_FILE_PATH", DATA_DIR / "mail")
EMAIL_HOST = env.string("EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("EMAIL_PORT", 587)
EMAIL_HOST_USER = env.string("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.secret("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_SSL = env.boolean("EMAIL_USE_SSL", False)
EMAIL_USE_TLS = env.boolean("EMAIL_USE_TLS", not EMAIL_USE_SSL)
EMAIL_TIMEOUT = env.integer("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env.string(
    "DEFAULT_FROM_EMAIL", "Airbyte Console <console@localhost>"
)
# How long an invitation's or a password reset's link works (seconds).
PASSWORD_RESET_TIMEOUT = env.integer("PASSWORD_RESET_TIMEOUT", 3 * 24 * 60 * 60)

# Failed logins: after AXES_FAILURE_LIMIT failures for one username from one address,
# further attempts are refused for AXES_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = env.integer("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env.integer("AXES_COOLOFF_MINUTES", 15) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

# --- Security (production turns on CONSOLE_HTTPS) ------------------------------
# Off by default: `make run` serves plain HTTP on a laptop. Production sets it.
SECURE_HTTPS = env.boolean("CONSOLE_HTTPS", False)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.integer("SESSION_COOKIE_AGE", 60 * 60 * 12)
SECURE_SSL_REDIRECT = env.boolean("DJANGO_SECURE_SSL_REDIRECT", SECURE_HTTPS)
SECURE_HSTS_SECONDS = env.integer(
    "DJANGO_HSTS_SECONDS", 31536000 if SECURE_HTTPS else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env.boolean("DJANGO_BEHIND_PROXY", False)
    else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# /healthz is probed by load balancers over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.string("CONSOLE_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Hashed, compressed files from `collectstatic` in production; tests and DEBUG serve
# the source folders directly.
STATIC_MANIFEST = env.boolean("CONSOLE_STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.secret("CELERY_BROKER_URL", default="filesystem://")
CELERY_FILESYSTEM_DIR = DATA_DIR / "celery"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: producers write to "out", consumers read from
    # "in"; one folder for both lets web, worker and beat on one machine meet.
    for sub in ("queue", "processed", "control"):
        (CELERY_FILESYSTEM_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "queue"),
        "processed_folder": str(CELERY_FILESYSTEM_DIR / "processed"),
        # Broadcasts (worker pings for /healthz and `airbyte status`).
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Sync attempts never depend on the message (the job row is the truth), so a
        # long visibility timeout only delays the redelivery of short tasks.
        "visibility_timeout": env.integer("CELERY_VISIBILITY_TIMEOUT", 3600),
        "socket_connect_timeout": 3,
        "socket_timeout": 5,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 60 * 60 * 24)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = env.boolean("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_WORKER_HEARTBEAT_TIMEOUT = 10
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}

# --- Operations -----------------------------------------------------------------------
METRICS_TOKEN = env.secret("METRICS_TOKEN", default="")
# Loopback scrapers (a Prometheus on the same host) need no token. Behind a reverse
# proxy on the same host every client looks like loopback, so it is off by default
# there (DJANGO_BEHIND_PROXY=1).
METRICS_ALLOW_LOOPBACK = env.boolean(
    "METRICS_ALLOW_LOOPBACK", not env.boolean("DJANGO_BEHIND_PROXY", False)
)
PROMETHEUS_EXPORT_MIGRATIONS = False
HEALTH_PROBE_TIMEOUT = env.number("HEALTH_PROBE_TIMEOUT", 2.0)
CONSOLE_ADMIN_EMAIL = env.string("CONSOLE_ADMIN_EMAIL", "")
CONSOLE_ADMIN_PASSWORD = env.secret("CONSOLE_ADMIN_PASSWORD", default="")
CONSOLE_BASE_URL = env.string("CONSOLE_BASE_URL", "http://127.0.0.1:8000")
CONSOLE_CLI_STATE_FILE = DATA_DIR / "cli-state.json"

# --- Credentials (issue #3) -------------------------------------------------------

# --- Connectors and the embedded engine (issue #3) -------------------------------
CONNECTORS_DIR = env.path("CONNECTORS_DIR", DATA_DIR / "connectors")
CONNECTOR_INSTALL_TIMEOUT = env.integer("CONNECTOR_INSTALL_TIMEOUT", 900)
CONNECTOR_TIMEOUTS = {
    "spec": env.integer("CONNECTOR_SPEC_TIMEOUT", 120),
    "check": env.integer("CONNECTOR_CHECK_TIMEOUT", 300),
    "discover": env.integer("CONNECTOR_DISCOVER_TIMEOUT", 900),
}
# Extra pip arguments for connector installs, e.g. a private index.
CONNECTOR_PIP_ARGS = env.str_list("CONNECTOR_PIP_ARGS", [])
# Every connector and dbt process runs in a bubblewrap sandbox (apps/engines/
# sandbox.py) where bwrap is installed; `none` runs them as the console's user.
CONNECTOR_SANDBOX = env.choice(
    "CONNECTOR_SANDBOX", ("bwrap", "none"), "bwrap" if shutil.which("bwrap") else "none"
)
# Each workspace's data folder, mounted read-write at /local in the sandbox.
LOCAL_FILES_DIR = env.path("LOCAL_FILES_DIR", DATA_DIR / "local")
# DuckDB destinations live under DUCKDB_DIR unless any path is allowed.
DUCKDB_DIR = env.path("DUCKDB_DIR", DATA_DIR / "duckdb")
DUCKDB_ALLOW_ANY_PATH = env.boolean("DUCKDB_ALLOW_ANY_PATH", False)
# Files destinations (a local folder) live in FILES_DIR/<workspace public id>/.
FILES_DIR = env.path("FILES_DIR", DATA_DIR / "files")

# --- Airbyte's connector registry and the ways connectors run (issue #16) --------
# The registry the catalog follows (a daily task and `airbyte connectors refresh`
# fetch it), and the CDN its manifest-only connectors are downloaded from
# (<CDN>/metadata/airbyte/<connector>/<version>/manifest.yaml).
CONNECTOR_REGISTRY_URL = env.string(
    "CONNECTOR_REGISTRY_URL",
    "https://connectors.airbyte.com/files/registries/v0/oss_registry.json",
)
CONNECTOR_CDN_URL = env.string(
    "CONNECTOR_CDN_URL", "https://connectors.airbyte.com/files"
)
# How often the daily task fetches the registry (0 or an empty URL: never); a
# failed fetch is recorded and shown on the catalog page, and changes nothing.
CONNECTOR_REGISTRY_REFRESH_HOURS = env.number("CONNECTOR_REGISTRY_REFRESH_HOURS", 24)
CONNECTOR_REGISTRY_TIMEOUT_SECONDS = env.number(
    "CONNECTOR_REGISTRY_TIMEOUT_SECONDS", 30
)
# Airbyte's oss_registry.json, specs included, is some 30-60 MB; 100 MB leaves
# room for its growth. The whole document is parsed in memory (a realistic one costs
# about its own size again; a hostile one of tiny objects ~20x), so the cap is also
# the worker's memory bound.
CONNECTOR_REGISTRY_MAX_BYTES = env.integer(
    "CONNECTOR_REGISTRY_MAX_BYTES", 100 * 1024 * 1024
)
CONNECTOR_ICON_MAX_BYTES = env.integer("CONNECTOR_ICON_MAX_BYTES", 256 * 1024)
if CONNECTOR_REGISTRY_URL and CONNECTOR_REGISTRY_REFRESH_HOURS > 0:
    CELERY_BEAT_SCHEDULE["connectors-registry-fetch"] = {
        "task": "connectors.registry_fetch",
        "schedule": CONNECTOR_REGISTRY_REFRESH_HOURS * 3600,
        "options": {"expires": 3600},
    }
# The airbyte-cdk version every manifest (manifest-only connectors, the connector
# builder's) runs on: one declarative runner, installed like any connector.
DECLARATIVE_CDK_VERSION = env.string("DECLARATIVE_CDK_VERSION", "7.39.1")
# Docker connectors run where a Docker daemon answers (DOCKER_HOST or the socket);
# `off` never tries.
CONNECTOR_DOCKER = env.choice("CONNECTOR_DOCKER", ("auto", "off"), "auto")

# --- Syncs (issue #4) -------------------------------------------------------------
# Retry policy after a failed attempt (Airbyte's): waits of base * factor^(n-1)
# seconds, capped, until too many failures in a row or in total.
SYNC_RETRY_BACKOFF_BASE_SECONDS = env.number("SYNC_RETRY_BACKOFF_BASE_SECONDS", 10)
SYNC_RETRY_BACKOFF_FACTOR = env.number("SYNC_RETRY_BACKOFF_FACTOR", 3)
SYNC_RETRY_BACKOFF_MAX_SECONDS = env.number("SYNC_RETRY_BACKOFF_MAX_SECONDS", 1800)
SYNC_MAX_SUCCESSIVE_FAILURES = env.integer("SYNC_MAX_SUCCESSIVE_FAILURES", 5)
SYNC_MAX_TOTAL_FAILURES = env.integer("SYNC_MAX_TOTAL_FAILURES", 10)
# A worker beats every SYNC_HEARTBEAT_SECONDS; an attempt silent for
# SYNC_HEARTBEAT_STALE_SECONDS is failed by the reaper (its worker died).
SYNC_HEARTBEAT_SECONDS = env.number("SYNC_HEARTBEAT_SECONDS", 5)
SYNC_HEARTBEAT_STALE_SECONDS = env.integer("SYNC_HEARTBEAT_STALE_SECONDS", 60)
# A connector that sends nothing for this long is failed as unresponsive.
SYNC_CONNECTOR_SILENCE_SECONDS = env.integer("SYNC_CONNECTOR_SILENCE_SECONDS", 600)
# Jobs waiting this long after being enqueued are enqueued again (lost messages).
SYNC_REENQUEUE_AFTER_SECONDS = env.integer("SYNC_REENQUEUE_AFTER_SECONDS", 300)
SYNC_LOG_MAX_BYTES = env.integer("SYNC_LOG_MAX_BYTES", 10 * 1024 * 1024)
SYNC_REAPER_INTERVAL_SECONDS = env.number("SYNC_REAPER_INTERVAL_SECONDS", 60)
CELERY_TASK_ROUTES = {"connections.sync_job": {"queue": "syncs"}}
CELERY_BEAT_SCHEDULE["sync-reaper"] = {
    "task": "connections.reaper",
    "schedule": SYNC_REAPER_INTERVAL_SECONDS,
}

# --- The airbyte engine (issue #6) -----------------------------------------------
# Every call to an Airbyte server has a timeout; calls that run a connector on the
# server (check, discover, creating a connection) get the long one, kept below
# abctl's ingress timeout of 600 s (the client caps it at 540 s).
AIRBYTE_HTTP_TIMEOUT_SECONDS = env.number("AIRBYTE_HTTP_TIMEOUT_SECONDS", 30)
AIRBYTE_LONG_TIMEOUT_SECONDS = env.number("AIRBYTE_LONG_TIMEOUT_SECONDS", 540)
# Network errors, timeouts, 429 and 5xx are retried this many times, with backoff
# and jitter from AIRBYTE_RETRY_BACKOFF_SECONDS, capped (Retry-After wins).
AIRBYTE_HTTP_RETRIES = env.integer("AIRBYTE_HTTP_RETRIES", 3)
AIRBYTE_RETRY_BACKOFF_SECONDS = env.number("AIRBYTE_RETRY_BACKOFF_SECONDS", 0.5)
AIRBYTE_RETRY_BACKOFF_MAX_SECONDS = env.number("AIRBYTE_RETRY_BACKOFF_MAX_SECONDS", 30)
# How often a running Airbyte job is polled; a job nobody polled for
# AIRBYTE_POLL_LOST_SECONDS gets a new poll from the reaper (a lost task).
AIRBYTE_POLL_SECONDS = env.number("AIRBYTE_POLL_SECONDS", 5)
AIRBYTE_POLL_LOST_SECONDS = env.integer("AIRBYTE_POLL_LOST_SECONDS", 120)
# Airbyte servers on loopback or private addresses (abctl on this machine) need
# this; link-local and cloud metadata addresses are refused even then
# (apps/core/netguard.py). `make run` sets it.
AIRBYTE_ALLOW_PRIVATE = env.boolean("AIRBYTE_ALLOW_PRIVATE", False)
# "Test connection" and the other probes of the Engine page give up after this many
# seconds in all, retries none.
AIRBYTE_PROBE_DEADLINE_SECONDS = env.number("AIRBYTE_PROBE_DEADLINE_SECONDS", 15)

# --- Schedules (issue #7) ----------------------------------------------------------
SCHEDULE_MIN_INTERVAL_MINUTES = env.integer("SCHEDULE_MIN_INTERVAL_MINUTES", 5)
CELERY_BEAT_SCHEDULE["schedules-dispatch"] = {
    "task": "schedules.dispatch",
    "schedule": 30.0,
    # A late dispatch is dropped: the next beat covers it.
    "options": {"expires": 25},
}

# --- Webhooks (issue #7) -----------------------------------------------------------
# Private and loopback receivers are refused (SSRF) unless this is on: `make run`
# and the tests turn it on for receivers on 127.0.0.1.
WEBHOOKS_ALLOW_PRIVATE = env.boolean("WEBHOOKS_ALLOW_PRIVATE", False)
WEBHOOK_TIMEOUT_SECONDS = env.number("WEBHOOK_TIMEOUT_SECONDS", 10)
WEBHOOK_RETRY_SCHEDULE_SECONDS = [
    float(s)
    for s in env.str_list(
        "WEBHOOK_RETRY_SCHEDULE_SECONDS",
        ["5", "300", "1800", "7200", "18000", "36000", "36000"],
    )
]
WEBHOOK_DISABLE_AFTER_DAYS = env.number("WEBHOOK_DISABLE_AFTER_DAYS", 5)
WEBHOOK_DISPATCH_BATCH = env.integer("WEBHOOK_DISPATCH_BATCH", 20)
CELERY_BEAT_SCHEDULE["webhooks-dispatch"] = {
    "task": "webhooks.dispatch",
    "schedule": env.number("WEBHOOK_DISPATCH_INTERVAL_SECONDS", 15),
}

# --- Transforms: dbt (issue #14) ---------------------------------------------------
# dbt-core and one adapter per virtualenv under DBT_DIR, so dbt's pins never touch
# the console's. The versions install together on Python 3.11 (dbt-core 1.12 needs a
# parser downloaded from GitHub at build time); dbt-duckdb's venv takes the console's
# own duckdb release so both open the same database files.
DBT_DIR = env.path("DBT_DIR", DATA_DIR / "dbt")
DBT_CORE_VERSION = env.string("DBT_CORE_VERSION", "1.11.16")
DBT_ADAPTER_VERSIONS = {
    "postgres": env.string("DBT_POSTGRES_VERSION", "1.11.0"),
    "duckdb": env.string("DBT_DUCKDB_VERSION", "1.11.1"),
}
DBT_INSTALL_TIMEOUT = env.integer("DBT_INSTALL_TIMEOUT", 900)
# Project folders (dbt's target/ is kept between runs for partial parsing).
TRANSFORMS_DIR = env.path("TRANSFORMS_DIR", DATA_DIR / "transforms")
TRANSFORM_RUN_TIMEOUT_SECONDS = env.integer("TRANSFORM_RUN_TIMEOUT_SECONDS", 3600)
TRANSFORM_LOG_MAX_BYTES = env.integer("TRANSFORM_LOG_MAX_BYTES", 5 * 1024 * 1024)
# Uploaded projects: the archive and what it unpacks to.
TRANSFORM_UPLOAD_MAX_BYTES = env.integer("TRANSFORM_UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
TRANSFORM_UNPACKED_MAX_BYTES = env.integer(
    "TRANSFORM_UNPACKED_MAX_BYTES", 50 * 1024 * 1024
)
TRANSFORM_UPLOAD_MAX_FILES = env.integer("TRANSFORM_UPLOAD_MAX_FILES", 2000)
GIT_TIMEOUT_SECONDS = env.integer("GIT_TIMEOUT_SECONDS", 120)
# Git projects from file:// URLs or paths on the console's host: off, since a
# workspace could otherwise read any repository on the host (tests turn it on).
TRANSFORMS_GIT_ALLOW_LOCAL = env.boolean("TRANSFORMS_GIT_ALLOW_LOCAL", False)
CELERY_TASK_ROUTES["transforms.run"] = {"queue": "syncs"}
CELERY_BEAT_SCHEDULE["transforms-tick"] = {
    "task": "transforms.tick",
    "schedule": 30.0,
    "options": {"expires": 25},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "filters": {
        "refusal_without_traceback": {
            "()": "apps.core.logfilters.ExpectedRefusalWithoutTraceback"
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.string("CONSOLE_LOG_LEVEL", "INFO")},
    "loggers": {
        # A 403 is logged as one line, without a traceback (it is expected).
        "django.request": {"filters": ["refusal_without_traceback"]},
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "kombu.connection": {"level": "ERROR"},
        # One line per request to an Airbyte server is noise; errors still show.
        "httpx": {"level": "WARNING"},
    },
}

# --- JSON API (issue #15) ------------------------------------------------------------
# Bearer tokens from POST /api/public/v1/applications/token live this long (Airbyte
# 1.6+ uses 15 minutes and says so in ``expires_in``).
API_TOKEN_SECONDS = env.integer("API_TOKEN_SECONDS", 900)
# Requests per token per minute before a 429 with Retry-After (0: no limit). The
# counters live in Django's cache: per process unless CACHE_URL names a shared one.
API_RATE_LIMIT = env.integer("API_RATE_LIMIT", 600)
# Calls that Airbyte answers synchronously (discover, a draft connection check) wait
# this long for the worker that runs the connector before answering 503.
API_WAIT_SECONDS = env.number("API_WAIT_SECONDS", 300)
# How many such calls may wait at once in one web process (each holds a thread:
# `make run` gives each process 4); one more is answered 429 straight away.
API_MAX_WAITING = env.integer("API_MAX_WAITING", 2)

# A cache shared by every process (redis://...) makes the API's rate limits
# console-wide; without it each process keeps its own (local memory).
CACHE_URL = env.string("CACHE_URL", "")
if CACHE_URL:
    if not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(
            f"CACHE_URL must be a redis:// URL (or empty for a per-process cache); "
            f"it is {CACHE_URL!r}."
        )
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
        }
    }

# --- Pipeline metrics (issue #17) -----------------------------------------------------
# Every process (gunicorn's, Celery's) writes its metrics into this folder and a
# scrape sums them (prometheus-client's multiprocess mode). `serve` and the worker
# clean it at start; each console (data folder) has its own.
PROMETHEUS_MULTIPROC_DIR = env.path(
    "PROMETHEUS_MULTIPROC_DIR", DATA_DIR / "run" / "prometheus"
)
# Per-connection labels (connection id) on the sync metrics: off by default, so the
# number of series stays bounded whatever the number of connections.
METRICS_PER_CONNECTION = env.boolean("METRICS_PER_CONNECTION", False)
# A worker host without the web process serves its own metrics on this port
# (0: none). It sums the same folder, so one scrape per host is enough.
WORKER_METRICS_PORT = env.integer("WORKER_METRICS_PORT", 0)
WORKER_METRICS_HOST = env.string("WORKER_METRICS_HOST", "127.0.0.1")

# --- Retention (issue #17) -----------------------------------------------------------
# How long rows are kept, in days (0: for ever). Jobs keep at least the last
# RETENTION_MIN_JOBS per connection whatever their age; audit events are never pruned.
RETENTION_JOB_DAYS = env.integer("RETENTION_JOB_DAYS", 90)
RETENTION_MIN_JOBS = env.integer("RETENTION_MIN_JOBS", 20)
# Attempt logs go sooner than their jobs (the text is most of a job's size).
RETENTION_LOG_DAYS = env.integer("RETENTION_LOG_DAYS", 30)
RETENTION_TICK_DAYS = env.integer("RETENTION_TICK_DAYS", 14)
RETENTION_DELIVERY_DAYS = env.integer("RETENTION_DELIVERY_DAYS", 30)
RETENTION_NOTIFICATION_DAYS = env.integer("RETENTION_NOTIFICATION_DAYS", 90)
# Rows deleted per statement: small batches, so no lock is held for long.
RETENTION_BATCH_SIZE = env.integer("RETENTION_BATCH_SIZE", 500)
RETENTION_PRUNE_HOURS = env.integer("RETENTION_PRUNE_HOURS", 6)
if RETENTION_PRUNE_HOURS:
    CELERY_BEAT_SCHEDULE["ops-retention-prune"] = {
        "task": "ops.retention_prune",
        "schedule": RETENTION_PRUNE_HOURS * 3600.0,
    }

# --- Worker hosts and queues (issue #17) ---------------------------------------------
# The queues `serve` and `manage start` have their worker consume. A host that runs a
# team's heavy connections adds their queue ("default,syncs,heavy"); a connection
# names its queue in its settings (Connection.queue).
WORKER_QUEUES = env.string("WORKER_QUEUES", "default,syncs")
