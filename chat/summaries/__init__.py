"""Summaries: streamed, cached per (part, language, prompt version, model), generated once.

    async for event in summary_stream(part, language="zh", user=request.user):
        ...  # forward to a websocket, an SSE response or the terminal

Events (plain dicts, JSON-ready):
- {"type": "start", "summary_id", "cached", "offline", "model", "language", "prompt_version"}
- {"type": "progress", "stage": "map", "done": k, "total": n}  (long parts, while sections are read)
- {"type": "section", "index", "start_ms", "end_ms", "title", "gist", "points": [{"start_ms", "text"}]}
  a long part's sections, in order, each as soon as it and every earlier one are read (`sections`);
  a request arriving mid-generation gets those so far first
- {"type": "token", "text": "…"}  the summary's Markdown, in order; a cache hit sends it whole
- {"type": "reset"}  the generation was restarted (a stale one taken over): drop the text so far
- {"type": "done", "cached": bool, "summary": Summary.to_dict()}  with its `chapters` (chat.chapters)
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

Chapters tile the part (chat.chapters), from the uploader's own, else a long part's sections
(no extra call), else one structured-output call reading the summary and a transcript outline
(`chaptering`), else extractive ones (offline, or when that call fails).

The modules: planning (sections, budgets, prompt values), mapping (map phase), reduce (writing
with the LLM), rendering (highlights, key points, offline text), generation (the one task),
follower (one request's view of it), sections (the map phase's sections as they finish), chaptering
(the chapters), stream (the entry points below).
"""

from chat.summaries.planning import budget_sections
from chat.summaries.stream import summary_get_or_generate, summary_stream

__all__ = ["budget_sections", "summary_get_or_generate", "summary_stream"]
