"""`manage.py create_api_token <username> [--name NAME]`: a personal API token, from the shell.

The secret is printed once, alone on stdout (`TOKEN=$(manage.py create_api_token alice)`);
everything else goes to stderr. `--revoke ID` revokes one of the user's tokens instead, and
`--list` shows their tokens (never the secrets).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chat.selectors import api_tokens_for_user
from chat.services.api_tokens import api_token_create, api_token_revoke
from core.errors import AppError


class Command(BaseCommand):
    help = "Create (or --revoke, --list) a user's personal API tokens."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="shell", help="a label for the token (default: shell)")
        parser.add_argument("--revoke", type=int, metavar="ID", help="revoke the user's token with this id")
        parser.add_argument("--list", action="store_true", help="list the user's tokens")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        if options["list"]:
            for token in api_tokens_for_user(user):
                state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
                self.stdout.write(f"{token.pk}\t{token.prefix}…\t{token.name}\t{state}")
            return
        if options["revoke"] is not None:
            try:
                api_token_revoke(user=user, token_id=options["revoke"])
            except AppError as exc:
                raise CommandError(f"{exc.message()}: {options['username']} has no token {options['revoke']}") from exc
            self.stderr.write(f"revoked token {options['revoke']} of {user.username}")
            return
        token, raw = api_token_create(user=user, name=options["name"])
        self.stderr.write(f"token {token.pk} ({token.name}) for {user.username}; it is shown only this once:")
        self.stdout.write(raw)
