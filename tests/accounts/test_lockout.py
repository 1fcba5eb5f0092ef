"""Throttled sign-in (django-axes): the sign-in page, the admin and API tokens; the lockout page;
lifting a lockout in the admin; the client address from a trusted header only."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from accounts.client import client_ip
from tests.api_client import API, api_client, assert_error, auser_with_token

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-pass-phrase-9"


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password=PASSWORD)


def sign_in(client: Client, password: str, username: str = "alice", path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


def test_the_right_password_is_refused_after_forty_wrong_ones(client: Client, alice: User) -> None:
    wrong = [sign_in(client, f"wrong-{number}").status_code for number in range(40)]
    response = sign_in(client, PASSWORD)
    assert wrong == [200] * 9 + [429] * 31
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert "登录失败次数过多，请在 15 分钟后再试" in response.text
    assert "_auth_user_id" not in client.session


def test_the_lockout_page_is_in_english_for_an_english_reader(client: Client, alice: User, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    sign_in(client, "wrong")
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "wrong"}, headers={"accept-language": "en"}
    )
    assert response.status_code == 429
    assert "Too many failed sign-in attempts: try again in 15 minutes" in response.text


def test_the_username_is_locked_from_other_addresses_too(alice: User, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    for number in range(3):
        sign_in(Client(REMOTE_ADDR=f"198.51.100.{number}"), "wrong")
    assert sign_in(Client(REMOTE_ADDR="198.51.100.9"), PASSWORD).status_code == 429


def test_an_admin_lifts_the_lockout_in_the_admin(client: Client, alice: User, admin_client: Client, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    for number in range(3):
        sign_in(client, f"wrong-{number}")
    assert sign_in(client, PASSWORD).status_code == 429
    attempts = list(AccessAttempt.objects.values_list("pk", flat=True))
    listing = admin_client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "alice" in listing.text
    response = admin_client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": attempts, "post": "yes"},
    )
    assert response.status_code == 302
    assert sign_in(client, PASSWORD).status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_the_admin_sign_in_counts_too(client: Client, alice: User, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    statuses = [sign_in(client, "wrong", path="/admin/login/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert sign_in(client, PASSWORD).status_code == 429


def test_a_right_password_resets_the_count(client: Client, alice: User, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    sign_in(client, "wrong")
    sign_in(client, "wrong")
    assert sign_in(client, PASSWORD).status_code == 302
    client.logout()
    sign_in(client, "wrong")
    sign_in(client, "wrong")
    assert sign_in(client, PASSWORD).status_code == 302


@pytest.mark.django_db(transaction=True)
async def test_bad_api_tokens_lock_their_client_out(settings) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    _, token = await auser_with_token()
    async with api_client("cbt_not-a-real-token") as bad:
        responses = [await bad.get(f"{API}/tokens") for _ in range(4)]
    async with api_client(token) as good:
        still_served = await good.get(f"{API}/tokens")
    assert [response.status_code for response in responses] == [401, 401, 429, 429]
    error = assert_error(responses[3], 429, "login_locked")
    assert responses[3].headers["Retry-After"] == "900"
    assert error["details"] == {"retry_after": 900}
    # A valid token is a 256-bit secret, not a guess: it keeps working, so a guesser behind the
    # same address cannot lock its owner out (and a valid token costs no lockout query).
    assert still_served.status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_a_good_token_still_works_below_the_limit(settings) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    _, token = await auser_with_token()
    async with api_client("cbt_not-a-real-token") as bad:
        await bad.get(f"{API}/tokens")
    async with api_client(token) as good:
        assert (await good.get(f"{API}/tokens")).status_code == 200


def test_the_client_address_is_remote_addr_without_a_trusted_header(settings) -> None:
    settings.TRUSTED_CLIENT_IP_HEADER = ""
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_ip(request) == "10.0.0.5"


def test_the_trusted_header_gives_the_address_its_proxy_saw(settings) -> None:
    settings.TRUSTED_CLIENT_IP_HEADER = "X-Forwarded-For"
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    assert client_ip(request) == "203.0.113.7"


def test_a_lockout_behind_a_proxy_follows_the_trusted_header(alice: User, settings) -> None:
    settings.TRUSTED_CLIENT_IP_HEADER = "X-Real-IP"
    settings.AXES_FAILURE_LIMIT = 2
    attacker = Client(REMOTE_ADDR="10.0.0.5", HTTP_X_REAL_IP="203.0.113.7")
    neighbour = Client(REMOTE_ADDR="10.0.0.5", HTTP_X_REAL_IP="203.0.113.8")
    sign_in(attacker, "wrong", username="nobody")
    sign_in(attacker, "wrong", username="nobody")
    assert sign_in(attacker, PASSWORD).status_code == 429
    assert sign_in(neighbour, PASSWORD).status_code == 302


@pytest.mark.django_db(transaction=True)
async def test_the_lockout_holds_on_the_asgi_app_the_server_runs(settings) -> None:
    """Through the whole ASGI application (async middleware, CSRF), as `make run` serves it."""
    settings.AXES_FAILURE_LIMIT = 3
    await User.objects.acreate_user("alice", password=PASSWORD)
    async with api_client() as browser:
        await browser.get("/accounts/login/")
        csrf = browser.cookies["csrftoken"]

        async def sign_in_with(password: str) -> int:
            form = {"username": "alice", "password": password, "csrfmiddlewaretoken": csrf}
            response = await browser.post("/accounts/login/", data=form, headers={"Referer": "http://testserver/"})
            return response.status_code

        statuses = [await sign_in_with("wrong") for _ in range(3)]
        right = await sign_in_with(PASSWORD)
    assert statuses == [200, 200, 429]
    assert right == 429
