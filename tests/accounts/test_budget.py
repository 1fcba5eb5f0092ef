"""The site's daily LLM budget (chat.budget): once spent, a question is refused with
site_budget_exhausted (503, Retry-After) and no LLM call, while a cached summary still serves."""

from __future__ import annotations

import pytest

from chat.budget import site_spend_today
from chat.models import Message, UsageRecord
from tests.api_client import API, api_client, assert_error, auser_with_token
from tests.factories import ready_part

pytestmark = pytest.mark.django_db(transaction=True)
PART = f"{API}/videos/BV1xx411c7mD/parts/1"
LLM_REPLY = "## 摘要\n红烧肉的做法。\n\n## 要点\n- [00:20] 选五花肉\n"


def chat_calls(llm) -> list:
    """The fake's chat completions (ready_part's ingestion also asked it for embeddings)."""
    return [request for request in llm.requests if request.path.endswith("/chat/completions")]


async def spend(tokens: int, *, model: str = "fake-chat", completion: int = 0) -> None:
    """LLM usage of someone else (or of a deleted account: no user), today."""
    await UsageRecord.objects.acreate(
        user=None, purpose="chat", model=model, prompt_tokens=tokens, completion_tokens=completion
    )


async def test_a_question_is_refused_with_no_llm_call_once_the_budget_is_spent(llm, settings) -> None:
    settings.SITE_DAILY_TOKEN_BUDGET = 5000
    _, token = await auser_with_token()
    await ready_part()
    await spend(5000)
    async with api_client(token) as client:
        response = await client.post(f"{PART}/chat", json={"question": "糖色？"})

    error = assert_error(response, 503, "site_budget_exhausted")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 86400
    assert error["details"] == {"limit": "tokens", "retry_after": retry_after}
    assert chat_calls(llm) == []
    assert not await Message.objects.aexists()


async def test_the_budget_error_is_in_english_for_an_english_reader(llm, settings) -> None:
    settings.SITE_DAILY_TOKEN_BUDGET = 100
    _, token = await auser_with_token()
    await ready_part()
    await spend(100)
    async with api_client(token, headers={"Accept-Language": "en"}) as client:
        response = await client.post(f"{PART}/chat", json={"question": "糖色？"})
    assert assert_error(response, 503, "site_budget_exhausted")["message"].startswith(
        "The site's AI budget for today is used up"
    )


async def test_a_cached_summary_still_serves_when_the_budget_is_spent(llm, settings) -> None:
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        made = await client.get(f"{PART}/summary")
        calls_before = len(chat_calls(llm))
        settings.SITE_DAILY_TOKEN_BUDGET = 1
        cached = await client.get(f"{PART}/summary")
        other_language = await client.get(f"{PART}/summary", params={"language": "en"})

    assert made.status_code == 200
    assert cached.status_code == 200 and cached.json() == made.json()
    assert_error(other_language, 503, "site_budget_exhausted")
    assert calls_before >= 1  # the summary was made by the LLM
    assert len(chat_calls(llm)) == calls_before


async def test_under_the_budget_a_question_is_answered(llm, settings) -> None:
    settings.SITE_DAILY_TOKEN_BUDGET = 5000
    _, token = await auser_with_token()
    await ready_part()
    await spend(4999)
    async with api_client(token) as client:
        response = await client.post(f"{PART}/chat", json={"question": "糖色？"})
    assert response.status_code == 200
    assert len(chat_calls(llm)) == 1


async def test_the_cost_ceiling_counts_per_model_prices(llm, settings) -> None:
    settings.LLM_PRICES = {"fake-chat": (1.0, 4.0), "*": (10.0, 10.0)}
    settings.SITE_DAILY_COST_LIMIT = 0.5
    _, token = await auser_with_token()
    await ready_part()
    await spend(100_000, completion=100_000)  # 0.1 + 0.4 = 0.5
    async with api_client(token) as client:
        response = await client.post(f"{PART}/chat", json={"question": "糖色？"})
    assert assert_error(response, 503, "site_budget_exhausted")["details"]["limit"] == "cost"
    assert chat_calls(llm) == []


@pytest.mark.django_db
def test_todays_spend_adds_every_model_at_its_price(settings) -> None:
    settings.LLM_PRICES = {"a": (1.0, 2.0), "*": (3.0, 0.0)}
    UsageRecord.objects.create(purpose="chat", model="a", prompt_tokens=1_000_000, completion_tokens=500_000)
    UsageRecord.objects.create(purpose="chat", model="b", prompt_tokens=2_000_000, completion_tokens=7)
    spend_today = site_spend_today()
    assert spend_today.tokens == 3_500_007
    assert spend_today.cost == 8.0


@pytest.mark.django_db
def test_the_admin_shows_todays_spend(admin_client, settings) -> None:
    settings.SITE_DAILY_TOKEN_BUDGET = 9000
    UsageRecord.objects.create(purpose="chat", model="a", prompt_tokens=1200, completion_tokens=34)
    response = admin_client.get("/admin/chat/usagerecord/")
    assert response.status_code == 200
    assert "<strong>1234</strong> tokens of a daily budget of <strong>9000</strong>" in response.text
