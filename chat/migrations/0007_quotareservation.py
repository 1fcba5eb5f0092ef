"""QuotaReservation: a request admitted by the generation gate, counted until its stream ends."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("chat", "0006_error_code_error_params"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="QuotaReservation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "purpose",
                    models.CharField(
                        choices=[
                            ("summary", "摘要 summary"),
                            ("summary_map", "分段摘要 summary map"),
                            ("summary_reduce", "摘要合并 summary reduce"),
                            ("comments", "评论草稿 comment drafts"),
                            ("chat", "对话 chat"),
                            ("other", "其他 other"),
                        ],
                        max_length=32,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["user", "created_at"], name="quotareservation_user_time")],
            },
        ),
    ]
