"""Account care: password reset by mail (the test run's locmem backend; the console backend by
default), password change, signing out everywhere, deleting an account."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from chat.models import ApiToken, Conversation, UsageRecord
from chat.services.api_tokens import api_token_create
from chatbili_site import settings as site_settings
from tests.factories import ready_part

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-pass-phrase-9"
NEW_PASSWORD = "another-long-phrase-7"


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", email="alice@example.com", password=PASSWORD)


def test_mail_goes_to_the_console_unless_a_mail_host_is_set() -> None:
    """The project's settings (the test run itself swaps in the locmem backend)."""
    assert site_settings.MAILERS == {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}


def test_password_reset_by_mail(client: Client, alice: User) -> None:
    response = client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert response["Location"] == "/accounts/password/reset/done/"
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"]
    assert message.subject == "ChatBili：重置密码"
    link = re.search(r"http://testserver(/accounts/reset/\S+/\S+/)", message.body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and "new_password1" in form_page.text
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == "/accounts/reset/done/"
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client: Client) -> None:
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response["Location"] == "/accounts/password/reset/done/"
    assert mail.outbox == []


def test_password_change(client: Client, alice: User) -> None:
    client.force_login(alice)
    response = client.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response["Location"] == "/accounts/password/change/done/"
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_sign_out_everywhere_ends_the_other_sessions(alice: User) -> None:
    laptop, phone = Client(), Client()
    for device in (laptop, phone):
        device.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert phone.get("/account/").status_code == 200
    response = laptop.post("/accounts/sessions/end/")
    assert response["Location"] == "/accounts/login/"
    assert phone.get("/account/")["Location"] == "/accounts/login/?next=/account/"
    assert laptop.get("/account/")["Location"] == "/accounts/login/?next=/account/"


def test_the_security_page_has_every_control_labelled(client: Client, alice: User) -> None:
    client.force_login(alice)
    page = client.get("/accounts/security/", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert "Sign out on all devices" in page.text and "Delete account" in page.text
    delete_page = client.get("/accounts/delete/")
    assert '<label for="id_password">' in delete_page.text


def test_deleting_an_account_needs_the_password(client: Client, alice: User) -> None:
    client.force_login(alice)
    response = client.post("/accounts/delete/", {"password": "wrong"})
    assert response.status_code == 400
    assert User.objects.filter(username="alice").exists()


def test_deleting_an_account_removes_its_conversations_and_tokens_but_keeps_the_spend(
    client: Client, alice: User
) -> None:
    from asgiref.sync import async_to_sync

    part = async_to_sync(ready_part)()
    Conversation.objects.create(user=alice, part=part)
    api_token_create(user=alice, name="script")
    UsageRecord.objects.create(user=alice, purpose="chat", model="m", prompt_tokens=10)
    client.force_login(alice)
    response = client.post("/accounts/delete/", {"password": PASSWORD})
    assert response["Location"] == "/"
    assert not User.objects.filter(username="alice").exists()
    assert (Conversation.objects.count(), ApiToken.objects.count()) == (0, 0)
    assert list(UsageRecord.objects.values_list("user", "prompt_tokens")) == [(None, 10)]
    assert "_auth_user_id" not in client.session
