"""Summary.style (part of the cache key) and Summary.chapters."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0007_quotareservation"),
        ("videos", "0005_part_error_code"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="summary",
            name="summary_unique_cache_key",
        ),
        migrations.AddField(
            model_name="summary",
            name="chapters",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="summary",
            name="style",
            field=models.CharField(default="standard", max_length=64),
        ),
        migrations.AddConstraint(
            model_name="summary",
            constraint=models.UniqueConstraint(
                fields=("part", "language", "prompt_version", "model", "style"), name="summary_unique_cache_key"
            ),
        ),
    ]
