"""VideoPart.error_message (a "zh / en" text) becomes error_code + error_params.

An old non-empty message is kept as code "legacy_error" with params {"text": message}.
"""

from django.db import migrations, models


def messages_to_codes(apps, schema_editor):
    VideoPart = apps.get_model("videos", "VideoPart")
    parts = VideoPart.objects.exclude(error_message="").only("pk", "error_message")
    for part in parts.iterator():
        VideoPart.objects.filter(pk=part.pk).update(error_code="legacy_error", error_params={"text": part.error_message})


def codes_to_messages(apps, schema_editor):
    VideoPart = apps.get_model("videos", "VideoPart")
    for part in VideoPart.objects.exclude(error_code="").only("pk", "error_code", "error_params").iterator():
        text = part.error_params.get("text") if part.error_code == "legacy_error" else part.error_code
        VideoPart.objects.filter(pk=part.pk).update(error_message=text or part.error_code)


class Migration(migrations.Migration):
    dependencies = [("videos", "0004_video_request")]

    operations = [
        migrations.AddField(
            model_name="videopart", name="error_code", field=models.CharField(blank=True, max_length=64)
        ),
        migrations.AddField(
            model_name="videopart", name="error_params", field=models.JSONField(blank=True, default=dict)
        ),
        migrations.RunPython(messages_to_codes, codes_to_messages),
        migrations.RemoveField(model_name="videopart", name="error_message"),
    ]
