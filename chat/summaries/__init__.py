"""Summaries: streamed, cached per (part, language, prompt version, model), generated once.

    async for event in summary_stream(part, language="zh", user=request.user):
        ...  # forward to a websocket, an SSE response or the terminal

Events (plain dicts, JSON-ready):
- {"type": "start", "summary_id", "cached", "offline", "model", "language", "prompt_version"}
- {"type": "progress", "stage": "map", "done": k, "total": n}  (long parts, while sections are read)
- {"type": "token", "text": "…"}  the summary's Markdown, in order; a cache hit sends it whole
- {"type": "reset"}  the generation was restarted (a stale one taken over): drop the text so far
- {"type": "done", "cached": bool, "summary": Summary.to_dict()}
- {"type": "error", "code", "message", "status": "failed"|"interrupted", "content": partial text}

How it runs: the request that creates the Summary row (or finds it failed, interrupted, stale
or asked to regenerate) becomes the leader and starts one generation task (`generation`). That
task publishes every event to the channel-layer group `summary.<id>` and saves the text as it
grows; every request, the leader's included, follows that group (`follower`). A request that
arrives mid-generation gets the text saved so far, then the rest. Claiming and saving the row
are services (chat.services.summaries).

Whole-part coverage: a transcript within SUMMARY_SINGLE_PASS_TOKENS goes to the LLM in one
pass (`reduce`). A longer one is cut into sections of at most SUMMARY_SECTION_TOKENS
(`planning`); each section is summarized with its time range (`mapping`), and the notes are
reduced into the summary. Timestamps are corrected to real chunk starts as the text streams;
the 高能时刻 section comes from the danmaku, never from the model (`rendering`).

The modules: planning (sections, budgets, prompt values), mapping (map phase), reduce (writing
with the LLM), rendering (highlights, key points, offline text), generation (the one task),
follower (one request's view of it), stream (the entry points below).
"""

from chat.summaries.planning import budget_sections
from chat.summaries.stream import summary_get_or_generate, summary_stream

__all__ = ["budget_sections", "summary_get_or_generate", "summary_stream"]
