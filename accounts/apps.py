from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "账户 Accounts"

    def ready(self) -> None:
        import accounts.checks
        import accounts.errors
        import accounts.signals  # noqa: F401  (records each sign-in's session)
