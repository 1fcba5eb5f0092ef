from django.apps import AppConfig


class ChatbiliSiteConfig(AppConfig):
    name = "chatbili_site"
    verbose_name = "ChatBili"
