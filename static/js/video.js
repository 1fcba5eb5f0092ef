// The video page: one websocket for ingestion progress and the summary, chat and comment streams.
//
// Safety: streamed text is only ever inserted as text (textContent / text nodes). When a stream
// is done, the server-rendered, nh3-sanitized HTML of the stored result is fetched from
// /summaries/<id>/ or /messages/<id>/ and put in place of the streamed text.
// Seeking: anything with data-seek="SECONDS" sets the player iframe's t= parameter (the mind map's
// nodes too: mindmap.js renders them as such links).
// Chapters: the list beside the player comes from the summary (server-rendered, then rebuilt from
// `section` events while a long summary streams and from the `done` event), and the chapter
// playing now is highlighted. The Bilibili iframe reports no time events, so the time is followed
// with a clock from the last seek (or from the first click into the player): pausing, scrubbing or
// buffering inside the player is invisible to the page, and the highlight drifts until the next seek.
"use strict";

(function () {
  const configElement = document.getElementById("video-config");
  if (!configElement) return;
  const config = JSON.parse(configElement.textContent);
  const labels = config.labels;
  const byId = (id) => document.getElementById(id);

  let socket = null;
  let reconnectDelay = 1000;
  let stage = config.stage;
  const loadedReady = config.stage === "ready";
  let conversationId = config.conversationId;
  let summaryRequested = config.summaryReady;
  const running = { summary: false, answer: false, comments: false };

  // --- Player ------------------------------------------------------------------------------

  function seek(seconds) {
    const player = byId("player");
    const url = new URL(player.getAttribute("src"), window.location.href);
    url.searchParams.set("t", String(seconds));
    url.searchParams.set("autoplay", "1");
    player.setAttribute("src", url.toString());
    player.scrollIntoView({ block: "nearest", behavior: "smooth" });
    playback.start(seconds);
  }

  // The estimated playback position: seconds at the last seek plus the time since (see the top).
  const playback = {
    origin: null, // {seconds, at}: where the clock started, by performance.now()
    timer: null,
    start(seconds) {
      this.origin = { seconds: seconds, at: performance.now() };
      if (!this.timer) this.timer = window.setInterval(() => highlightChapter(this.seconds()), 1000);
      highlightChapter(seconds);
    },
    seconds() {
      return this.origin ? this.origin.seconds + (performance.now() - this.origin.at) / 1000 : 0;
    },
  };

  // A click into the player (the page loses focus to the iframe) most likely starts playback.
  window.addEventListener("blur", () => {
    window.setTimeout(() => {
      if (document.activeElement === byId("player") && !playback.origin) playback.start(initialSeconds());
    }, 0);
  });

  function initialSeconds() {
    const src = byId("player").getAttribute("src");
    const seconds = parseInt(new URL(src, window.location.href).searchParams.get("t") || "0", 10);
    return Number.isFinite(seconds) ? seconds : 0;
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-seek]");
    if (!target) return;
    event.preventDefault();
    const seconds = parseInt(target.getAttribute("data-seek"), 10);
    if (Number.isFinite(seconds) && seconds >= 0) seek(seconds);
  });

  // --- Chapters ----------------------------------------------------------------------------

  const chapterList = byId("chapters");
  const chapterCard = byId("chapters-card");

  // "mm:ss" below an hour, "h:mm:ss" from an hour on (as videos.exports.clock).
  function clock(ms) {
    const total = Math.max(0, Math.floor(Number(ms) / 1000) || 0);
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const pad = (value) => String(value).padStart(2, "0");
    return (hours ? hours + ":" + pad(minutes) : pad(minutes)) + ":" + pad(total % 60);
  }

  function textElement(tag, className, text) {
    const element = document.createElement(tag);
    element.className = className;
    element.textContent = String(text || "");
    return element;
  }

  // A seek link "time title" (the same markup as templates/chat/_chapters.html).
  function momentLink(className, startMs, title) {
    const seconds = Math.floor((Number(startMs) || 0) / 1000);
    const link = document.createElement("a");
    link.className = "seek " + className;
    link.href = "#t=" + seconds;
    link.setAttribute("data-seek", String(seconds));
    link.append(textElement("span", "chapter-time", clock(startMs)), " ", textElement("span", "chapter-title", title));
    return link;
  }

  function chapterItem(chapter) {
    const item = document.createElement("li");
    item.className = "chapter";
    item.dataset.startMs = String(Number(chapter.start_ms) || 0);
    item.dataset.endMs = String(Number(chapter.end_ms) || 0);
    item.appendChild(momentLink("chapter-link", chapter.start_ms, chapter.title));
    if (chapter.gist) item.appendChild(textElement("p", "chapter-gist", chapter.gist));
    return item;
  }

  function showChapters(chapters) {
    if (!chapterList) return;
    chapterList.replaceChildren(...chapters.map(chapterItem));
    chapterCard.hidden = chapters.length === 0;
    const badge = byId("chapters-source");
    const source = chapters.length ? String(chapters[0].source || "") : "";
    badge.textContent = source ? config.chapterSources[source] || config.structureLabels.chapterSourceModel : "";
    badge.hidden = !source;
    if (playback.origin) highlightChapter(playback.seconds());
  }

  function addChapter(chapter) {
    if (!chapterList) return;
    chapterList.appendChild(chapterItem(chapter));
    chapterCard.hidden = false;
  }

  // Mark the chapter playing at `seconds` (aria-current) and keep it in view inside the list.
  // Seeks are whole seconds (t= rounds a chapter's start down), so a chapter that starts within
  // the next second already counts as playing.
  function highlightChapter(seconds) {
    if (!chapterList) return;
    const ms = seconds * 1000;
    const items = Array.from(chapterList.children);
    const playing = items.filter((item) => Number(item.dataset.startMs) <= ms + 999 && ms < Number(item.dataset.endMs));
    for (const item of items) {
      const current = item === playing[playing.length - 1];
      const link = item.querySelector("a");
      if (current === item.classList.contains("current")) continue;
      item.classList.toggle("current", current);
      if (current) {
        link.setAttribute("aria-current", "true");
        const top = item.offsetTop - chapterList.offsetTop;
        if (top < chapterList.scrollTop || top + item.offsetHeight > chapterList.scrollTop + chapterList.clientHeight) {
          chapterList.scrollTop = Math.max(0, top - chapterList.clientHeight / 3);
        }
      } else {
        link.removeAttribute("aria-current");
      }
    }
  }

  // Arrow keys, Home and End move between the chapters; Enter seeks (a link's own click).
  if (chapterList) {
    chapterList.addEventListener("keydown", (event) => {
      const links = Array.from(chapterList.querySelectorAll("a.chapter-link"));
      const at = links.indexOf(document.activeElement);
      if (at < 0) return;
      const moves = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: links.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      links[Math.max(0, Math.min(links.length - 1, moves[event.key]))].focus();
    });
  }

  // --- Tabs (summary / mind map) -------------------------------------------------------------

  const tabs = Array.from(document.querySelectorAll('#summary-card [role="tab"]'));

  function selectTab(tab, focus) {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      byId(other.getAttribute("aria-controls")).hidden = !selected;
    }
    if (focus) tab.focus();
    document.dispatchEvent(new CustomEvent("chatbili:tab", { detail: { panel: tab.getAttribute("aria-controls") } }));
  }

  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab, false));
    tab.addEventListener("keydown", (event) => {
      const at = tabs.indexOf(tab);
      const moves = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      selectTab(tabs[(moves[event.key] + tabs.length) % tabs.length], true);
    });
  }

  const partSelect = byId("part-select");
  if (partSelect) {
    partSelect.addEventListener("change", () => {
      window.location.href = partSelect.value;
    });
  }

  // --- Socket ------------------------------------------------------------------------------

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + window.location.host + config.socketPath);
    socket.addEventListener("open", () => {
      reconnectDelay = 1000;
      setSocketState(true);
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      dispatch(frame);
    });
    socket.addEventListener("close", (event) => {
      setSocketState(false);
      interruptRunningStreams();
      // Final closes: no reconnecting. 4401: not signed in (or the session expired); 4404: no such part.
      if (event.code === 4401) return showSocketNotice(labels.signedOut, labels.signIn, config.loginUrl);
      if (event.code === 4404) return showSocketNotice(labels.noSuchPart);
      window.setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 15000);
    });
  }

  // A notice that the socket is closed for good, with a link to act on it (inserted as text).
  function showSocketNotice(text, linkText, linkUrl) {
    const notice = byId("socket-notice");
    if (!notice) return;
    notice.replaceChildren(document.createTextNode(text));
    if (linkText && linkUrl) {
      const link = document.createElement("a");
      link.href = linkUrl;
      link.textContent = linkText;
      notice.append(" ", link);
    }
    notice.hidden = false;
    const state = byId("socket-state");
    if (state) state.textContent = text;
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function setSocketState(open) {
    const element = byId("socket-state");
    if (!element) return;
    element.classList.toggle("open", open);
    element.textContent = open ? "" : labels.disconnected;
  }

  function interruptRunningStreams() {
    if (running.summary) summaryRequested = false;
    for (const name of Object.keys(running)) running[name] = false;
    setBusy();
  }

  function dispatch(frame) {
    if (frame.type === "cancelled") {
      if (frame.stream && frame.stream in running) running[frame.stream] = false;
      if (frame.stream === "answer") {
        answer = null;
        chatLog.removeAttribute("aria-busy");
        announce(labels.stopped);
      }
      return setBusy();
    }
    if (frame.type === "progress" && !frame.stream) return onProgress(frame); // ingestion (a summary's has a stream)
    if (frame.stream === "summary") return onSummary(frame);
    if (frame.stream === "answer") return onAnswer(frame);
    if (frame.stream === "comments") return onComments(frame);
    if (frame.type === "error") showStatus("summary-status", errorText(frame), true);
  }

  // An error frame's message, with when to retry for quota and rate limits.
  function errorText(frame) {
    const seconds = Number(frame.retry_after);
    if (!Number.isFinite(seconds) || seconds <= 0) return String(frame.message || "");
    return String(frame.message || "") + " · " + labels.retryAfter.replace("%(seconds)s", String(Math.ceil(seconds)));
  }

  // --- Ingestion progress ------------------------------------------------------------------

  function onProgress(frame) {
    stage = frame.stage;
    const percent = Math.max(0, Math.min(100, Number(frame.percent) || 0));
    const panel = byId("ingest");
    panel.dataset.stage = stage;
    byId("stage-label").textContent = labels[stage] || stage;
    byId("percent").textContent = percent + "%";
    byId("progress-bar").style.width = percent + "%";
    byId("progress").setAttribute("aria-valuenow", String(percent));
    byId("progress").setAttribute("aria-valuetext", percent + "% · " + (labels[stage] || stage));
    const error = byId("ingest-error");
    error.textContent = frame.error || "";
    error.hidden = !frame.error;
    byId("retry-form").hidden = stage !== "failed";
    byId("start-form").hidden = stage !== "queued";
    if (stage !== "ready") {
      panel.hidden = false;
      return;
    }
    if (!loadedReady) {
      // The transcript, exports and controls are rendered by the server: show them.
      window.location.reload();
      return;
    }
    panel.hidden = true;
    if (!summaryRequested) requestSummary("summary");
  }

  // --- Summary -----------------------------------------------------------------------------

  const summaryElement = byId("summary");
  let summaryText = null; // the text node streamed tokens are appended to
  let summaryId = null;

  function requestSummary(kind) {
    const language = byId("summary-language").value;
    if (send({ type: kind, language: language, style: byId("summary-style").value })) {
      summaryRequested = true;
      running.summary = true;
      setBusy();
    }
  }

  function startStreamedText(container, className) {
    container.replaceChildren();
    const block = document.createElement("div");
    block.className = className;
    const text = document.createTextNode("");
    block.appendChild(text);
    container.appendChild(block);
    return text;
  }

  function onSummary(frame) {
    if (frame.type === "start") {
      summaryId = frame.summary_id;
      summaryElement.dataset.state = "streaming";
      summaryText = startStreamedText(summaryElement, "stream-text");
      sectionNotes.replaceChildren();
      sectionNotes.hidden = true;
      showStatus("summary-status", frame.offline ? labels.offline : "");
    } else if (frame.type === "section") {
      onSection(frame);
    } else if (frame.type === "progress") {
      const text = labels.summarizing.replace("%(done)s", frame.done).replace("%(total)s", frame.total);
      showStatus("summary-status", text);
    } else if (frame.type === "token" && summaryText) {
      summaryText.appendData(frame.text);
    } else if (frame.type === "reset" && summaryText) {
      summaryText.data = "";
    } else if (frame.type === "done") {
      showStatus("summary-status", "");
      sectionNotes.hidden = true;
      showChapters(frame.summary.chapters || []);
      replaceWithFragment(summaryElement, config.summaryFragmentUrl, frame.summary.id, () => {
        summaryElement.dataset.state = "done";
        document.dispatchEvent(new CustomEvent("chatbili:summary", { detail: { summary: frame.summary } }));
      });
      running.summary = false;
      setBusy();
    } else if (frame.type === "error") {
      showStatus("summary-status", errorText(frame), true);
      summaryElement.dataset.state = "error";
      // What is stored now: the previous version after a failed regeneration, else the partial text.
      if (summaryId) replaceWithFragment(summaryElement, config.summaryFragmentUrl, summaryId, () => {});
      running.summary = false;
      setBusy();
    }
  }

  // A long part's sections arrive in order while the map calls finish: each becomes a chapter
  // (the first one replaces the previous summary's list) and a note above the streamed text.
  const sectionNotes = byId("summary-sections");

  function onSection(frame) {
    if (sectionNotes.childElementCount === 0) showChapters([]);
    addChapter(frame);
    const note = document.createElement("li");
    note.className = "section-note";
    note.dataset.index = String(frame.index);
    note.appendChild(momentLink("section-link", frame.start_ms, frame.title));
    if (frame.gist) note.appendChild(textElement("p", "chapter-gist", frame.gist));
    sectionNotes.appendChild(note);
    sectionNotes.hidden = false;
  }

  byId("summary-regenerate").addEventListener("click", () => requestSummary("regenerate"));
  byId("summary-style").addEventListener("change", () => requestSummary("summary"));
  byId("summary-language").addEventListener("change", () => {
    requestSummary("summary");
    const exportLink = byId("export-markdown");
    if (exportLink) {
      const url = new URL(exportLink.href);
      url.searchParams.set("language", byId("summary-language").value);
      exportLink.href = url.toString();
    }
  });

  // --- Chat --------------------------------------------------------------------------------

  const chatLog = byId("chat-log");
  const askForm = byId("ask-form");
  const question = byId("question");
  let answer = null; // {article, text, citations}

  function messageArticle(role, headText) {
    const placeholder = byId("chat-placeholder");
    if (placeholder) placeholder.remove();
    const article = document.createElement("article");
    article.className = "message " + role;
    const head = document.createElement("header");
    head.className = "message-head";
    head.textContent = headText;
    const body = document.createElement("div");
    body.className = "body stream-text";
    article.append(head, body);
    chatLog.appendChild(article);
    return article;
  }

  function scrollChat() {
    chatLog.scrollTop = chatLog.scrollHeight;
  }

  askForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = question.value.trim();
    if (!text || running.answer) return;
    const frame = { type: "ask", question: text, language: "auto" };
    if (conversationId) frame.conversation_id = conversationId;
    if (!send(frame)) return showStatus("chat-log", labels.disconnected, true);
    const mine = messageArticle("user", labels.you);
    mine.querySelector(".body").textContent = text;
    question.value = "";
    running.answer = true;
    setBusy();
    scrollChat();
  });

  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      askForm.requestSubmit();
    }
  });

  byId("new-conversation").addEventListener("click", () => {
    if (running.answer) return;
    conversationId = null;
    chatLog.replaceChildren();
    rememberConversation("new");
    question.focus();
  });

  // The address names the open conversation, so a reload shows it ("new": an empty chat; without
  // the parameter the page restores the latest conversation about this part).
  function rememberConversation(id) {
    const url = new URL(window.location.href);
    url.searchParams.set("conversation", String(id));
    window.history.replaceState(null, "", url.toString());
  }

  // Screen readers hear that an answer started and, once done, the answer read once: the log
  // itself is not live, so streamed tokens are never read one by one.
  const announcer = byId("chat-announcer");

  function announce(text) {
    if (!announcer) return;
    announcer.textContent = "";
    window.setTimeout(() => (announcer.textContent = text), 50);
  }

  function onAnswer(frame) {
    if (frame.type === "start") {
      conversationId = frame.conversation_id;
      rememberConversation(conversationId);
      const article = messageArticle("assistant", labels.assistant);
      article.dataset.messageId = String(frame.message_id);
      article.dataset.state = "streaming";
      const text = document.createTextNode("");
      article.querySelector(".body").appendChild(text);
      answer = { article: article, text: text };
      chatLog.setAttribute("aria-busy", "true");
      announce(labels.answering);
    } else if (frame.type === "token" && answer) {
      answer.text.appendData(frame.text);
      scrollChat();
    } else if (frame.type === "citations" && answer) {
      answer.article.appendChild(citationChips(frame.citations));
    } else if (frame.type === "done" && answer) {
      const article = answer.article;
      replaceWithFragment(article, config.messageFragmentUrl, frame.message_id, () => {
        const fresh = chatLog.querySelector('[data-message-id="' + frame.message_id + '"]');
        if (fresh) fresh.dataset.state = "done";
        chatLog.removeAttribute("aria-busy");
        const body = fresh && fresh.querySelector(".body");
        if (body) announce(labels.answered + " " + body.textContent.trim());
        scrollChat();
      }, true);
      answer = null;
      running.answer = false;
      setBusy();
    } else if (frame.type === "error") {
      const article = answer ? answer.article : messageArticle("assistant", labels.assistant);
      article.dataset.state = "error";
      const note = document.createElement("p");
      note.className = "error-box small";
      note.textContent = errorText(frame);
      article.appendChild(note);
      chatLog.removeAttribute("aria-busy");
      announce(note.textContent);
      answer = null;
      running.answer = false;
      setBusy();
      scrollChat();
    }
  }

  function citationChips(citations) {
    const line = document.createElement("p");
    line.className = "citations";
    for (const citation of citations || []) {
      const chip = document.createElement("a");
      const seconds = Math.floor((Number(citation.start_ms) || 0) / 1000);
      chip.className = "seek chip";
      chip.href = "#t=" + seconds;
      chip.setAttribute("data-seek", String(seconds));
      chip.textContent = String(citation.label || "");
      line.appendChild(chip);
    }
    return line;
  }

  // --- Comment drafts ----------------------------------------------------------------------

  const commentsStream = byId("comments-stream");
  const drafts = byId("drafts");

  byId("comments-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (running.comments) return;
    const frame = { type: "comments", tone: byId("comments-tone").value, language: byId("summary-language").value };
    if (!send(frame)) return showStatus("comments-status", labels.disconnected, true);
    running.comments = true;
    setBusy();
  });

  function onComments(frame) {
    if (frame.type === "start") {
      drafts.replaceChildren();
      commentsStream.textContent = "";
      commentsStream.hidden = false;
      showStatus("comments-status", frame.offline ? labels.offline : "");
    } else if (frame.type === "progress") {
      showStatus("comments-status", labels.waitingSummary);
    } else if (frame.type === "token") {
      commentsStream.appendChild(document.createTextNode(frame.text));
    } else if (frame.type === "done") {
      commentsStream.hidden = true;
      for (const draft of frame.drafts) drafts.appendChild(draftItem(draft, frame.comment_set.offline));
      showStatus("comments-status", "");
      running.comments = false;
      setBusy();
    } else if (frame.type === "error") {
      showStatus("comments-status", errorText(frame), true);
      running.comments = false;
      setBusy();
    }
  }

  function draftItem(text, offline) {
    const item = document.createElement("li");
    const body = document.createElement("p");
    body.textContent = text;
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "secondary small copy";
    copy.textContent = labels.copy;
    copy.addEventListener("click", () => copyText(text, copy));
    item.append(body, copy);
    if (offline) {
      const badge = document.createElement("span");
      badge.className = "badge offline";
      badge.textContent = labels.offline;
      item.appendChild(badge);
    }
    return item;
  }

  function copyText(text, button) {
    const done = () => {
      button.textContent = labels.copied;
      window.setTimeout(() => (button.textContent = labels.copy), 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => copyWithSelection(text) && done());
    } else if (copyWithSelection(text)) {
      done();
    }
  }

  function copyWithSelection(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    area.remove();
    return copied;
  }

  // --- Transcript search -------------------------------------------------------------------

  const search = byId("transcript-search");
  if (search) {
    const items = Array.from(document.querySelectorAll("#transcript li"));
    const texts = items.map((item) => item.querySelector(".cue-text").textContent);
    const count = byId("transcript-count");
    search.addEventListener("input", () => {
      const query = search.value.trim().toLowerCase();
      let shown = 0;
      items.forEach((item, index) => {
        const match = !query || texts[index].toLowerCase().includes(query);
        item.hidden = !match;
        if (match) shown += 1;
        markMatches(item.querySelector(".cue-text"), texts[index], match ? query : "");
      });
      count.textContent = query ? shown + " / " + items.length : String(items.length);
    });
  }

  function markMatches(span, original, query) {
    span.replaceChildren();
    if (!query) {
      span.textContent = original;
      return;
    }
    const lower = original.toLowerCase();
    let from = 0;
    for (let at = lower.indexOf(query); at >= 0; at = lower.indexOf(query, from)) {
      span.append(original.slice(from, at));
      const mark = document.createElement("mark");
      mark.textContent = original.slice(at, at + query.length);
      span.append(mark);
      from = at + query.length;
    }
    span.append(original.slice(from));
  }

  // --- Shared ------------------------------------------------------------------------------

  function showStatus(id, text, isError) {
    const element = byId(id);
    if (!element) return;
    if (id === "chat-log") {
      const note = document.createElement("p");
      note.className = "error-box small";
      note.textContent = text;
      element.appendChild(note);
      return;
    }
    element.textContent = text || "";
    element.classList.toggle("error", Boolean(isError));
  }

  function setBusy() {
    const ready = stage === "ready";
    byId("ask-button").disabled = !ready || running.answer;
    byId("summary-regenerate").disabled = !ready || running.summary;
    byId("summary-language").disabled = running.summary;
    byId("summary-style").disabled = running.summary;
    byId("comments-button").disabled = !ready || running.comments;
    byId("new-conversation").disabled = running.answer;
  }

  // Fetch the sanitized HTML of a finished summary or message and put it in place of `element`
  // (its children, or the element itself with `replaceElement`).
  function replaceWithFragment(element, urlTemplate, id, then, replaceElement) {
    const url = urlTemplate.replace("/0/", "/" + encodeURIComponent(id) + "/");
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then((response) => {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then((html) => {
        const template = document.createElement("template");
        template.innerHTML = html; // sanitized on the server; parsed inert, scripts never run
        if (replaceElement) element.replaceWith(template.content);
        else element.replaceChildren(template.content);
        then();
      })
      .catch(() => then());
  }

  // --- Phone tabs (summary / chat / chapters below the sticky player; site.css) -------------

  const grid = byId("video-grid");
  const phoneTabs = Array.from(document.querySelectorAll("#phone-tabs [role=tab]"));

  function selectPhoneTab(tab, focus) {
    for (const other of phoneTabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
    }
    grid.dataset.phoneTab = tab.dataset.panel;
    if (focus) tab.focus();
  }

  for (const tab of phoneTabs) {
    tab.addEventListener("click", () => selectPhoneTab(tab, false));
    tab.addEventListener("keydown", (event) => {
      const shown = phoneTabs.filter((item) => !item.hidden);
      const at = shown.indexOf(tab);
      const moves = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: shown.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      selectPhoneTab(shown[(moves[event.key] + shown.length) % shown.length], true);
    });
  }

  document.addEventListener("chatbili:reveal", (event) => {
    if (event.detail.id === "question") selectPhoneTab(byId("phone-tab-chat"), false);
  });

  // The chapters tab follows the chapters card (shown once a summary brings chapters).
  if (chapterCard) {
    new MutationObserver(() => {
      const tab = byId("phone-tab-chapters");
      tab.hidden = chapterCard.hidden;
      if (tab.hidden && grid.dataset.phoneTab === "chapters") selectPhoneTab(byId("phone-tab-summary"), false);
    }).observe(chapterCard, { attributes: true, attributeFilter: ["hidden"] });
  }

  // --- Keyboard: Esc stops a running answer, j / k move between citations -------------------
  // (`/` and the help dialog are site-wide: site.js.)

  // The citations shown now (on a phone, those of the open tab), in page order.
  function citationLinks() {
    return Array.from(document.querySelectorAll("#chat-log a.seek, #summary a.seek")).filter(
      (link) => link.offsetParent !== null,
    );
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]") !== null;
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector("dialog[open]")) return;
    if (event.key === "Escape" && running.answer) {
      event.preventDefault();
      send({ type: "cancel" });
      return;
    }
    if ((event.key !== "j" && event.key !== "k") || typing(event.target)) return;
    const links = citationLinks();
    if (!links.length) return;
    event.preventDefault();
    const at = links.indexOf(document.activeElement);
    const next = event.key === "j" ? (at < 0 ? 0 : Math.min(links.length - 1, at + 1)) : Math.max(0, at - 1);
    links[next].focus();
    links[next].scrollIntoView({ block: "nearest" });
  });

  setBusy();
  connect();
})();
