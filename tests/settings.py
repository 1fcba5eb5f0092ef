"""Settings for the test run: no outside network, offline LLM, a fixed secret key.

The variables are set before the project settings are read, ahead of any `.env` file, so a
developer's own keys and hosts never reach the tests. Outside hosts point at a closed local
port until a test points them at one of its fake servers.
"""

import os

CLOSED_PORT_URL = "http://127.0.0.1:9"

os.environ.update(
    {
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": f"{CLOSED_PORT_URL}/v1",
        "OUTBOUND_PROXY": "",
        "BILIBILI_SESSDATA": "",
        "BILIBILI_API_BASE": CLOSED_PORT_URL,
        "BILIBILI_COMMENT_BASE": CLOSED_PORT_URL,
        "BILIBILI_SHORTLINK_BASE": CLOSED_PORT_URL,
        "BCUT_API_BASE": CLOSED_PORT_URL,
        "REDIS_URL": "",
        # Importing the ASGI module in a test process (daphne may be imported already) must not warm
        # it: that opens the database pool before pytest-django points it at the test database.
        "WARM_START": "false",
    }
)
for proxy_variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(proxy_variable, None)

from chatbili_site.settings import *  # noqa: E402, F403
