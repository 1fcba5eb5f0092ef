from django.contrib import admin

from chat.models import Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["role", "status", "content", "prompt_tokens", "completion_tokens", "created_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "part", "title", "updated_at"]
    search_fields = ["title", "user__username", "part__video__bvid"]
    readonly_fields = ["user", "part", "title", "created_at", "updated_at"]
    inlines = [MessageInline]
