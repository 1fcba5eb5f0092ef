from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "对话 Chat"

    def ready(self) -> None:
        import chat.errors  # noqa: F401  (declares the error kinds stored codes render with)
