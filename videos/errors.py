"""Every kind of error the videos app raises or stores, declared once (see core.errors).

    raise AppError(NO_SUCH_PART, page=5, count=1)

Codes are stable (the API, pages and `manage.py ingest` show them). A kind that is `retryable`
is an outside service's trouble (status 502/503): trying again later may help. Everything else
is about the video or the input and will fail the same way again.
"""

from __future__ import annotations

from core.errors import error_kind

RETRY_LATER_SECONDS = 30  # the Retry-After of a retryable upstream failure

# --- the link or the part asked for ----------------------------------------------------------------
# details: {"reason": "not_a_video_link" | "short_link_expired" | "short_link_offsite" | "bad_bvid" | "bad_aid"}
INVALID_LINK = error_kind(
    "invalid_link",
    "无法识别的哔哩哔哩视频链接：请粘贴视频页地址、b23.tv 短链接或 BV/av 号",
    "Not a Bilibili video link: paste a video page address, a b23.tv short link or a BV/av id",
    status=422,
)
NO_SUCH_PART = error_kind(
    "no_such_part",
    "这个视频没有第 {page} P（共 {count} P）",
    "This video has no part {page} (it has {count})",
    status=422,
)
PART_NOT_FOUND = error_kind("part_not_found", "找不到这个视频分 P", "No such video part", status=404)
# Same templates as chat declares for its own checks, so the two declarations agree.
PART_NOT_READY = error_kind(
    "part_not_ready", "视频还在处理中，请稍候", "The video is still being processed", status=409
)
# params: reason (the part's stored error, rendered in the reader's language); details: error_code
INGEST_FAILED = error_kind("ingest_failed", "{reason}", "{reason}", status=409)
# The reason shown for a failed part that has none stored.
INGEST_FAILED_UNKNOWN = error_kind("ingest_failed_unknown", "处理失败", "Ingestion failed", status=409)

# --- Bilibili says the video cannot be had (the same request will fail again) ----------------------
# Our own words for every code Bilibili is known to answer with (docs/bilibili-api.md §0, §4.1, §8):
# what happened and what the user can do, never Bilibili's raw message. The code is in details.
BILIBILI_BAD_REQUEST = error_kind(
    "bilibili_bad_request",
    "哔哩哔哩没能识别这个请求：请检查链接是否完整，或从视频页重新复制地址",
    "Bilibili could not make sense of the request: check that the link is complete, "
    "or copy it again from the video page",
    status=422,
)
LOGIN_REQUIRED = error_kind(
    "login_required",
    "哔哩哔哩要求登录后才能读取这个视频：请让管理员设置 BILIBILI_SESSDATA，或换一个公开的视频",
    "Bilibili only shows this video to signed-in users: ask the administrator to set BILIBILI_SESSDATA, "
    "or try a public video",
    status=422,
)
ACCESS_DENIED = error_kind(
    "access_denied",
    "没有权限读取这个视频：它可能需要登录（BILIBILI_SESSDATA）或大会员，请换一个视频",
    "ChatBili may not read this video: it may need a login (BILIBILI_SESSDATA) or a membership; try another video",
    status=422,
)
VIDEO_NOT_FOUND = error_kind(
    "video_not_found",
    "找不到这个视频：它可能已被删除，或链接有误。请在哔哩哔哩打开链接确认一下",
    "The video does not exist; it may have been deleted or be geo-restricted: check the link",
    status=422,
)
GEO_RESTRICTED = error_kind(
    "geo_restricted",
    "这个视频在服务器所在地区无法观看，请换一个视频",
    "The video is not available in this region; try another video",
    status=422,
)
COPYRIGHT_RESTRICTED = error_kind(
    "copyright_restricted",
    "这个视频因版权原因无法观看，请换一个视频",
    "The video is unavailable for copyright reasons; try another video",
    status=422,
)
MEMBERS_ONLY = error_kind(
    "members_only",
    "这个视频只有大会员能看，ChatBili 无法读取，请换一个视频",
    "Only premium members can watch this video, so ChatBili cannot read it; try another video",
    status=422,
)
UPOWER_EXCLUSIVE = error_kind(
    "upower_exclusive",
    "这是 UP 主的充电专属视频，只有充电用户能看，ChatBili 无法读取，请换一个视频",
    "This video is for the uploader's paying supporters only (充电专属), so ChatBili cannot read it; try another video",
    status=422,
)
VIDEO_PRIVATE = error_kind(
    "video_private",
    "这个视频目前不公开（UP 主设为私密或已隐藏），ChatBili 无法读取：请换一个视频，或等它重新公开后再试",
    "The video is private or hidden; try another video, or again once the uploader makes it public",
    status=422,
)
VIDEO_UNDER_REVIEW = error_kind(
    "video_under_review",
    "这个视频还在哔哩哔哩审核中：等它发布后再提交",
    "The video is still under review; submit it again once it is published",
    status=422,
)
VIDEO_OWNER_ONLY = error_kind(
    "video_owner_only",
    "这个视频只有 UP 主自己能看，ChatBili 无法读取，请换一个视频",
    "Only the uploader can see this video; try another video",
    status=422,
)
NO_AUDIO = error_kind("no_audio", "该视频没有音轨", "The video has no audio track", status=422)
# params: code (Bilibili's number), detail (its message: kept for the log, not shown)
BILIBILI_ERROR = error_kind(
    "bilibili_error",
    "哔哩哔哩拒绝提供这个视频（错误码 {code}）：请确认链接能在哔哩哔哩正常打开，或换一个视频",
    "Bilibili refused this video (error {code}): check that the link opens on Bilibili, or try another video",
    status=502,
)
# params: status, what
BILIBILI_HTTP_ERROR = error_kind(
    "bilibili_http_error",
    "哔哩哔哩返回 HTTP {status}（{what}）",
    "Bilibili answered HTTP {status} ({what})",
    status=502,
)
DANMAKU_UNAVAILABLE = error_kind(
    "danmaku_unavailable",
    "无法获取弹幕（HTTP {status}）",
    "The danmaku could not be fetched (HTTP {status})",
    status=502,
)
DANMAKU_TOO_LARGE = error_kind("danmaku_too_large", "弹幕数据过大", "The danmaku reply is too large", status=502)

# --- Bilibili is in trouble or blocks us (trying again later may help) ----------------------------
RISK_CONTROL = error_kind(
    "risk_control",
    "哔哩哔哩风控拦截了请求，请稍后再试；设置 BILIBILI_SESSDATA（登录 Cookie）可降低被拦截的概率",
    "Bilibili's risk control blocked the request; try again later. "
    "Setting BILIBILI_SESSDATA (a logged-in cookie) makes this less likely",
    status=503,
    retryable=True,
)
BILIBILI_UNAVAILABLE = error_kind(
    "bilibili_unavailable",
    "暂时无法连接哔哩哔哩（超时或服务器错误），请稍后再试",
    "Bilibili could not be reached (timeout or server error); try again later",
    status=503,
    retryable=True,
)
# params: what (the reply that was not understood)
BAD_RESPONSE = error_kind(
    "bad_response",
    "哔哩哔哩返回了无法识别的数据（{what}）",
    "Bilibili sent a reply ChatBili does not understand ({what})",
    status=502,
    retryable=True,
)
BAD_DANMAKU = error_kind(
    "bad_danmaku", "弹幕数据无法解压", "The danmaku reply could not be decompressed", status=502, retryable=True
)
SUBTITLE_UNAVAILABLE = error_kind(
    "subtitle_unavailable",
    "字幕文件下载失败（HTTP {status}），请稍后再试",
    "The subtitle file could not be downloaded (HTTP {status}); try again later",
    status=503,
    retryable=True,
)
AUDIO_DOWNLOAD_FAILED = error_kind(
    "audio_download_failed",
    "无法下载视频音频，请稍后再试",
    "The video's audio could not be downloaded from any mirror; try again later",
    status=503,
    retryable=True,
)

# --- speech recognition (bcut or an OpenAI-compatible endpoint) -----------------------------------
# params: detail (what failed, in the service's or HTTP's own words)
ASR_FAILED = error_kind(
    "asr_failed",
    "语音识别失败（{detail}），请稍后重试",
    "Speech recognition failed ({detail}); try again later",
    status=502,
    retryable=True,
)
ASR_UNREACHABLE = error_kind(
    "asr_unreachable",
    "无法连接语音识别服务，请稍后重试",
    "Cannot reach the speech recognition service; try again later",
    status=503,
    retryable=True,
)
ASR_TIMEOUT = error_kind(
    "asr_timeout",
    "语音识别服务没有及时响应，请稍后重试",
    "The speech recognition service did not answer in time; try again later",
    status=503,
    retryable=True,
)
ASR_DEADLINE = error_kind(
    "asr_deadline",
    "必剪语音识别在 {seconds} 秒内没有完成，请稍后重试",
    "bcut speech recognition did not finish within {seconds} s; try again later",
    status=503,
    retryable=True,
)
ASR_EMPTY_AUDIO = error_kind(
    "asr_empty_audio", "没有可识别的音频（文件为空）", "There is no audio to transcribe (the file is empty)", status=422
)
ASR_TASK_FAILED = error_kind(
    "asr_task_failed", "必剪语音识别失败：{remark}", "bcut speech recognition failed: {remark}", status=502
)
ASR_API_CHANGED = error_kind(
    "asr_api_changed",
    "必剪拒绝了两种请求格式（{path}），接口可能已变更",
    "bcut rejected both request encodings on {path}; the API may have changed: {rejected}",
    status=502,
)
ASR_KEY_REJECTED = error_kind(
    "asr_key_rejected",
    "语音识别服务拒绝了 API 密钥（请检查 ASR_API_KEY）：{detail}",
    "The speech recognition service rejected the API key (check ASR_API_KEY): {detail}",
    status=502,
)
ASR_REJECTED = error_kind(
    "asr_rejected",
    "语音识别服务返回错误（HTTP {status}）：{detail}",
    "The speech recognition service returned HTTP {status}: {detail}",
    status=502,
)

# --- embeddings ------------------------------------------------------------------------------------
# params: reason ("HTTP <status>: <the endpoint's message>" or the connection failure)
EMBEDDING_FAILED = error_kind(
    "embedding_failed",
    "向量化服务请求失败：{reason}",
    "The embedding request failed: {reason}",
    status=502,
    retryable=True,
)
EMBEDDING_REJECTED = error_kind(
    "embedding_rejected",
    "向量化服务拒绝了请求：{reason}",
    "The embedding service refused the request: {reason}",
    status=502,
)
EMBEDDING_DIMENSIONS_MISMATCH = error_kind(
    "embedding_dimensions_mismatch",
    "向量模型返回 {got} 维向量，与 EMBEDDING_DIMENSIONS={expected} 不符",
    "The embedding model returned {got} dimensions, but EMBEDDING_DIMENSIONS is {expected}",
    status=502,
)

# --- the pipeline and imported files ---------------------------------------------------------------
EMPTY_TRANSCRIPT = error_kind(
    "empty_transcript", "这个视频没有可识别的语音或字幕", "No speech or subtitles were found", status=422
)
CLAIM_LOST = error_kind(
    "claim_lost", "另一个任务接管了这个分P", "Another worker took over this part", status=409, retryable=True
)
# params: reason (what is wrong with the file, e.g. "line 3: malformed timing")
BAD_TRANSCRIPT = error_kind(
    "bad_transcript",
    "无法导入字幕文件（{reason}）：请使用 UTF-8 编码的 SRT、WebVTT 或 BCC JSON 文件",
    "Cannot import the transcript file ({reason}): use an SRT, WebVTT or BCC JSON file in UTF-8",
    status=422,
)

# --- stored on a part, never raised ---------------------------------------------------------------
PART_REPLACED = error_kind(
    "part_replaced",
    "UP主替换了这个分P的视频，请重新处理",
    "The uploader replaced this part; process it again",
    status=409,
)
CACHE_PURGED = error_kind(
    "cache_purged",
    "缓存已清除，重新提交链接即可再次处理",
    "Cached data purged; submit the link again to re-ingest",
    status=409,
)
# Rows written before errors were stored as code + params: their old text, as it was (chat declares the same).
LEGACY_ERROR = error_kind("legacy_error", "{text}", "{text}")

# --- collections (videos.collections, videos.collection_ingest) ------------------------------------
COLLECTION_NOT_FOUND = error_kind("collection_not_found", "找不到这个合集", "No such collection", status=404)
# details: {"reason": "not_a_collection_link" | "bad_id"}
INVALID_COLLECTION_LINK = error_kind(
    "invalid_collection_link",
    "无法识别的合集链接：请粘贴合集、系列、收藏夹或分P视频的地址",
    "Not a collection link: paste the address of a collection (合集), a series, a favourites folder "
    "or a multi-part video",
    status=422,
)
COLLECTION_EMPTY = error_kind("collection_empty", "这个合集里没有视频", "This collection has no videos", status=422)
# Shown on a collection whose source listed more items than the cap (not raised).
COLLECTION_CAPPED = error_kind(
    "collection_capped",
    "这个合集有 {total} 个视频，每个合集最多处理前 {cap} 个",
    "This collection has {total} videos; only the first {cap} are processed per collection",
    status=422,
)
FAVOURITES_PRIVATE = error_kind(
    "favourites_private",
    "这个收藏夹是私密的：只有配置了其主人的哔哩哔哩登录（BILIBILI_SESSDATA）才能读取",
    "This favourites folder is private: it can only be read with its owner's Bilibili login (BILIBILI_SESSDATA)",
    status=422,
)
# An item of a collection that Bilibili lists but no longer plays (deleted or hidden by the uploader).
ITEM_UNAVAILABLE = error_kind(
    "collection_item_unavailable",
    "这个视频已失效（被删除或设为私密）",
    "This video is no longer available (deleted or made private)",
    status=422,
)

# --- audio files, bcut in 2026 and the Bilibili login (issue 15) ------------------------------------
AUDIO_TOO_LARGE = error_kind(
    "audio_too_large",
    "视频音频超过 {limit_mb} MB 的上限（AUDIO_MAX_BYTES），无法识别",
    "The video's audio is larger than the {limit_mb} MB limit (AUDIO_MAX_BYTES) and cannot be transcribed",
    status=422,
)
AUDIO_UNREADABLE = error_kind(
    "audio_unreadable",
    "无法读取视频音频（{detail}）",
    "The video's audio could not be read ({detail})",
    status=422,
)
# bcut answered 412 / 139201 / -400 / -500 to every one of `attempts` fresh uploads.
ASR_BCUT_EXHAUSTED = error_kind(
    "asr_bcut_exhausted",
    "必剪语音识别重试 {attempts} 次仍失败（{detail}），请稍后再试",
    "bcut speech recognition still failed after {attempts} tries ({detail}); try again later",
    status=503,
    retryable=True,
)
BILIBILI_LOGIN_FAILED = error_kind(
    "bilibili_login_failed",
    "哔哩哔哩登录失败：{detail}",
    "The Bilibili login failed: {detail}",
    status=502,
    retryable=True,
)
BILIBILI_LOGIN_BAD_KEY = error_kind(
    "bilibili_login_bad_key",
    "保存的哔哩哔哩登录无法解密（BILIBILI_LOGIN_KEY 或 SECRET_KEY 改过了？），请重新扫码登录",
    "The stored Bilibili login cannot be decrypted (did BILIBILI_LOGIN_KEY or SECRET_KEY change?); "
    "log in again with the QR code",
    status=500,
)
