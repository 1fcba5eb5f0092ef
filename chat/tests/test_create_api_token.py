from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from chat.models import ApiToken
from chat.services.api_tokens import api_token_authenticate, api_token_create

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_only_the_secret_on_stdout_and_stores_its_hash() -> None:
    alice = User.objects.create_user("alice")
    out, err = run("alice", "--name", "deploy")

    secret = out.strip()
    assert secret.startswith("cbt_") and "\n" not in secret
    assert "shown only this once" in err and secret not in err
    token = ApiToken.objects.get(user=alice)
    assert token.name == "deploy" and secret not in token.token_hash
    assert api_token_authenticate(secret) == alice


def test_list_and_revoke() -> None:
    alice = User.objects.create_user("alice")
    token, raw = api_token_create(user=alice, name="old")

    listed, _ = run("alice", "--list")
    assert f"{token.pk}\t{token.prefix}…\told\tactive" in listed and raw not in listed

    run("alice", "--revoke", str(token.pk))
    assert api_token_authenticate(raw) is None
    assert "revoked" in run("alice", "--list")[0]


def test_unknown_user_and_someone_elses_token_are_errors() -> None:
    User.objects.create_user("alice")
    bob = User.objects.create_user("bob")
    token, raw = api_token_create(user=bob, name="bob's")
    with pytest.raises(CommandError, match="no user"):
        run("nobody")
    with pytest.raises(CommandError, match="has no token"):
        run("alice", "--revoke", str(token.pk))
    assert api_token_authenticate(raw) == bob
