"""Every kind of error the chat app raises or stores, declared once (see core.errors).

    raise AppError(CONVERSATION_NOT_FOUND)
    raise AppError(QUOTA_EXCEEDED, retry_after=30, details={"limit": "requests_per_minute"},
                   limit_name="requests_per_minute", limit=20, reason={"zh": "...", "en": "..."})

Codes are documented (README, API) and kept stable. A code is declared once: `bad_request` and
`internal_error` are core's kinds, `part_not_ready` and `legacy_error` (old rows' text) are
videos' kinds; they are re-exported here so chat's code finds all its kinds in one module.
"""

from __future__ import annotations

from core.errors import BAD_REQUEST, INTERNAL_ERROR, error_kind
from videos.errors import LEGACY_ERROR, PART_NOT_READY

__all__ = [
    "ANSWER_IN_PROGRESS",
    "BAD_LANGUAGE",
    "BAD_REQUEST",
    "BAD_TONE",
    "BUSY",
    "CLIENT_DISCONNECTED",
    "CONVERSATION_NOT_FOUND",
    "EMPTY_QUESTION",
    "INCOMPLETE",
    "INTERNAL_ERROR",
    "LEGACY_ERROR",
    "LLM_FAILED",
    "NO_CHANNEL_LAYER",
    "NO_TRANSCRIPT",
    "PART_NOT_READY",
    "QUOTA_EXCEEDED",
    "REGENERATION_FAILED",
    "SERVER_RESTARTED",
    "SUMMARY_FAILED",
    "SUMMARY_INTERRUPTED",
]

# --- the client's doing -------------------------------------------------------------------------
CONVERSATION_NOT_FOUND = error_kind("conversation_not_found", "找不到这个对话", "Conversation not found", status=404)
ANSWER_IN_PROGRESS = error_kind(
    "answer_in_progress", "这个对话正在回答上一个问题", "This conversation is still answering", status=409
)
NO_TRANSCRIPT = error_kind("no_transcript", "这个视频还没有字幕", "This part has no transcript yet", status=409)
EMPTY_QUESTION = error_kind("empty_question", "问题不能为空", "The question is empty", status=422)
BAD_TONE = error_kind("bad_tone", "不支持的语气：{tone}", "Unknown tone {tone!r} (use {tones})", status=422)
BAD_LANGUAGE = error_kind("bad_language", "不支持的语言：{language}", "Unknown language {language!r}", status=422)
BUSY = error_kind("busy", "上一个请求还在进行中", "The previous request is still running", status=409)
# params: limit_name ("daily_tokens" | "requests_per_minute"), limit (the number), reason ({"zh", "en"}: the
# sentence for that limit, chat.quotas.QUOTA_REASONS); retry_after on the error.
QUOTA_EXCEEDED = error_kind(
    "quota_exceeded",
    "{reason}",
    "{reason}",
    status=429,
)

# --- generation failed upstream (trying again may help) -------------------------------------------
# params: reason (the upstream's own words, in English)
LLM_FAILED = error_kind(
    "llm_failed", "大模型请求失败：{reason}", "LLM request failed: {reason}", status=502, retryable=True
)
INCOMPLETE = error_kind("incomplete", "生成意外结束", "The generation ended early", status=502, retryable=True)
SUMMARY_FAILED = error_kind("summary_failed", "摘要生成失败", "The summary failed", status=502, retryable=True)
SUMMARY_INTERRUPTED = error_kind(
    "summary_interrupted", "摘要生成中断", "The summary was interrupted", status=502, retryable=True
)
# params: cause (the code of what failed); the last complete version is served meanwhile
REGENERATION_FAILED = error_kind(
    "regeneration_failed",
    "重新生成失败，保留上一版",
    "Regeneration failed; the previous version is kept",
    status=502,
    retryable=True,
)
NO_CHANNEL_LAYER = error_kind(
    "no_channel_layer", "未配置 CHANNEL_LAYERS", "CHANNEL_LAYERS is not configured", status=503
)

# --- stored on a row, never raised ----------------------------------------------------------------
CLIENT_DISCONNECTED = error_kind("client_disconnected", "客户端断开", "Client disconnected")
SERVER_RESTARTED = error_kind(
    "server_restarted", "服务器重启，回答中断", "Server restarted; the answer was interrupted", status=503
)

# --- access (API tokens), appended by the entry points' helper ------------------------------------
TOKEN_NOT_FOUND = error_kind("token_not_found", "找不到这个令牌", "Token not found", status=404)
SESSION_REQUIRED = error_kind(
    "session_required", "请在账户页面创建令牌", "Create tokens from your account page", status=403
)

# --- summary styles and custom templates, appended with the styles (chat.styles) -------------------
# params: style (as asked), styles (the ones there are)
BAD_STYLE = error_kind(
    "bad_style",
    "不支持的总结风格：{style}（可用：{styles}）",
    "Unknown summary style {style!r} (use {styles})",
    status=422,
)
# params: placeholder (the offending text), allowed (the placeholders there are)
BAD_TEMPLATE = error_kind(
    "bad_template",
    "模板里的 {placeholder} 无效：只能用 {allowed}，花括号要成对（字面的花括号写成 {{{{ 或 }}}}）",
    "Bad placeholder {placeholder} in the template: use only {allowed}, with balanced braces"
    " (write {{{{ or }}}} for a literal brace)",
    status=422,
)
# params: length, limit (characters)
TEMPLATE_TOO_LONG = error_kind(
    "template_too_long",
    "模板太长（{length} 字，最多 {limit} 字）",
    "The template is too long ({length} characters, at most {limit})",
    status=422,
)
TEMPLATE_NOT_FOUND = error_kind("template_not_found", "找不到这个总结模板", "Summary template not found", status=404)

# --- chapters and mind map of a part (chat.mindmap), appended with them ----------------------------
SUMMARY_NOT_FOUND = error_kind(
    "summary_not_found",
    "这个视频还没有摘要，请先生成摘要",
    "This part has no summary yet; make the summary first",
    status=404,
)
SUMMARY_IN_PROGRESS = error_kind(
    "summary_in_progress", "摘要正在生成，请稍候", "The summary is still being made", status=409
)

# --- the library: cross-video chat and series summaries (chat.library_chat, chat.series) ------------
LIBRARY_EMPTY = error_kind(
    "library_empty",
    "这里还没有处理好的视频，请等视频处理完成后再试",
    "Nothing here is ready yet; try again when the videos are processed",
    status=409,
)
SERIES_NO_SUMMARIES = error_kind(
    "series_no_summaries",
    "合集里的视频还没有摘要，请先生成各个视频的摘要",
    "None of the collection's videos has a summary yet; summarise the videos first",
    status=409,
)

# --- the site's daily LLM budget (chat.budget), appended with it ----------------------------------
# params: none; retry_after: seconds until local midnight; details.limit "tokens" or "cost"
SITE_BUDGET_EXHAUSTED = error_kind(
    "site_budget_exhausted",
    "本站今天的 AI 预算已用完，明天再来吧（已有的摘要和字幕仍可查看）",
    "The site's AI budget for today is used up: come back tomorrow (existing summaries and transcripts still work)",
    status=503,
)
