"""VideoPart.uploader_chapters: the uploader's own chapters (view_points)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("videos", "0005_part_error_code"),
    ]

    operations = [
        migrations.AddField(
            model_name="videopart",
            name="uploader_chapters",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
