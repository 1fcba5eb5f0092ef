"""Summary and Message store an error as code + params (rendered when read), not as text.

Old non-empty texts become the code "legacy_error" with params {"text": old}.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

MODELS = ("summary", "message")


def texts_to_codes(apps: Any, schema_editor: Any) -> None:
    for name in MODELS:
        model = apps.get_model("chat", name)
        for row in model.objects.exclude(error_message="").only("pk", "error_message").iterator():
            model.objects.filter(pk=row.pk).update(error_code="legacy_error", error_params={"text": row.error_message})


def codes_to_texts(apps: Any, schema_editor: Any) -> None:
    for name in MODELS:
        model = apps.get_model("chat", name)
        for row in model.objects.exclude(error_code="").only("pk", "error_code", "error_params").iterator():
            text = row.error_params.get("text") if row.error_code == "legacy_error" else row.error_code
            model.objects.filter(pk=row.pk).update(error_message=text or row.error_code)


class Migration(migrations.Migration):
    dependencies = [("chat", "0005_summary_previous")]

    operations = [
        *(
            operation
            for name in MODELS
            for operation in (
                migrations.AddField(name, "error_code", models.CharField(blank=True, max_length=64)),
                migrations.AddField(name, "error_params", models.JSONField(blank=True, default=dict)),
            )
        ),
        migrations.RunPython(texts_to_codes, codes_to_texts),
        *(migrations.RemoveField(name, "error_message") for name in MODELS),
    ]
