"""`/metrics`: the Prometheus text format of every process's metrics (core.metrics).

Open to clients in METRICS_ALLOWED_NETWORKS (default 127.0.0.1 and ::1) and to any client that
sends `Authorization: Bearer <METRICS_TOKEN>` when a token is set; everyone else gets the site's
404, so the address does not announce itself. The client address is `accounts.client.client_ip`:
REMOTE_ADDR, or TRUSTED_CLIENT_IP_HEADER when your proxy sets it. A request that came through a
proxy (it carries a forwarding header) while TRUSTED_CLIENT_IP_HEADER is unset is never taken as
local: behind nginx every REMOTE_ADDR is 127.0.0.1.

The queue depth is read here, at scrape time, from django_tasks_db's table.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_tasks_db.models import DBTaskResult
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from accounts.client import client_ip
from core import metrics

logger = logging.getLogger(__name__)

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")
QUEUED_STATUSES = ("READY", "RUNNING")


class QueueDepthCollector(Collector):
    """Tasks waiting (READY) and running (RUNNING) per queue, counted when scraped."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "chatbili_task_queue_depth", "Background tasks waiting or running, by queue", labels=["queue", "status"]
        )
        try:
            rows = (
                DBTaskResult.objects.filter(status__in=QUEUED_STATUSES)
                .values("queue_name", "status")
                .annotate(count=Count("id"))
            )
            counts = {(row["queue_name"], row["status"]): row["count"] for row in rows}
        except DatabaseError:
            logger.warning("queue depth not available: the database did not answer")
            return
        for queue in sorted({queue for queue, _ in counts} | {"default"}):
            for status in QUEUED_STATUSES:
                family.add_metric([queue, status.lower()], counts.get((queue, status), 0))
        yield family


def _token_ok(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


def _address_ok(request: HttpRequest) -> bool:
    if not settings.TRUSTED_CLIENT_IP_HEADER and any(request.META.get(name) for name in FORWARDING_HEADERS):
        return False
    address = client_ip(request)
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(network, strict=False) for network in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_ENABLED or not (_token_ok(request) or _address_ok(request)):
        raise Http404
    queue = CollectorRegistry(auto_describe=False)
    queue.register(QueueDepthCollector())
    return HttpResponse(metrics.exposition(queue), content_type=CONTENT_TYPE_LATEST)
