from django.apps import AppConfig


class VideosConfig(AppConfig):
    name = "videos"
    verbose_name = "视频 Videos"

    def ready(self) -> None:
        import videos.errors  # noqa: F401  (declares the error kinds stored codes render with)
