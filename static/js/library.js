// The My library page: cross-video chat (ws/library/ or ws/collections/<id>/) and a collection's
// series summary, on one websocket with the same frames as the video page's socket.
// Safety: streamed and stored text is only ever inserted as text (textContent / text nodes);
// citations become links to the video page at the cited moment (/videos/<bvid>/<page>/?t=<s>).
"use strict";

(function () {
  const configElement = document.getElementById("library-config");
  if (!configElement) return;
  const config = JSON.parse(configElement.textContent);
  const labels = config.labels;
  const byId = (id) => document.getElementById(id);
  const log = byId("library-chat-log");
  const form = byId("library-ask-form");
  const question = byId("library-question");
  const cancelButton = byId("library-cancel");
  let socket = null;
  let reconnectDelay = 1000;
  let conversationId = config.conversationId;
  let answer = null; // {body, text, citations} of the answer streaming now
  let series = null; // {text} of the series summary streaming now
  let ready = false; // the socket said "ready": questions can be sent
  let everOpen = false; // it was ready once: a "connecting" now is a reconnection
  const socketState = byId("library-socket-state");
  const askButton = form.querySelector("button[type=submit]");

  function clock(ms) {
    const total = Math.max(0, Math.floor(Number(ms) / 1000) || 0);
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const pad = (value) => String(value).padStart(2, "0");
    return (hours ? hours + ":" + pad(minutes) : pad(minutes)) + ":" + pad(total % 60);
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function citationLink(citation) {
    const page = Number(citation.page) > 1 ? " P" + citation.page : "";
    const link = element("a", "chip library-citation", citation.video_title + page + " " + clock(citation.start_ms));
    link.href = citation.url;
    link.dataset.bvid = citation.bvid;
    link.dataset.page = String(citation.page);
    link.dataset.startMs = String(citation.start_ms);
    return link;
  }

  // The answer's text again, with each cited label ("[V12 03:15]") as a link to its moment.
  function linkLabels(paragraph, text, citations) {
    const urls = new Map(citations.map((citation) => [citation.label, citation.url]));
    if (!urls.size) return;
    const nodes = [];
    let rest = text;
    for (;;) {
      let first = -1;
      let label = "";
      urls.forEach((_url, candidate) => {
        const at = rest.indexOf(candidate);
        if (at >= 0 && (first < 0 || at < first)) {
          first = at;
          label = candidate;
        }
      });
      if (first < 0) break;
      if (first > 0) nodes.push(document.createTextNode(rest.slice(0, first)));
      const link = element("a", "library-moment", label);
      link.href = urls.get(label);
      nodes.push(link);
      rest = rest.slice(first + label.length);
    }
    if (rest) nodes.push(document.createTextNode(rest));
    paragraph.replaceChildren(...nodes);
  }

  function addMessage(role, text) {
    const placeholder = byId("library-chat-placeholder");
    if (placeholder) placeholder.remove();
    const article = element("article", "message " + role);
    article.appendChild(element("header", "message-head", role === "user" ? labels.me : "ChatBili"));
    const body = element("div", "body stream-text");
    body.appendChild(element("p", "", text));
    article.appendChild(body);
    log.appendChild(article);
    log.scrollTop = log.scrollHeight;
    return article;
  }

  function setRunning(running) {
    askButton.disabled = running || !ready;
    cancelButton.hidden = !running;
  }

  // "connecting" | "open" | "closed" (signed out or not the user's collection: for good).
  function setSocketState(state) {
    ready = state === "open";
    if (ready) everOpen = true;
    if (socketState) {
      socketState.dataset.state = state;
      const lost = state === "connecting" && everOpen;
      socketState.textContent = state === "closed" ? labels.closed : lost ? labels.disconnected : "";
    }
    setRunning(Boolean(answer));
  }

  function finishAnswer(state) {
    answer.article.dataset.state = state;
    answer = null;
    setRunning(false);
  }

  function onAnswerEvent(frame) {
    if (frame.type === "start") {
      conversationId = frame.conversation_id;
      const url = new URL(window.location.href);
      url.searchParams.set("conversation", String(conversationId));
      window.history.replaceState(null, "", url.toString());
      answer.article.dataset.messageId = String(frame.message_id);
    } else if (frame.type === "token") {
      answer.text += frame.text;
      answer.paragraph.textContent = answer.text;
      log.scrollTop = log.scrollHeight;
    } else if (frame.type === "citations") {
      linkLabels(answer.paragraph, answer.text, frame.citations);
      if (frame.citations.length) {
        const line = element("p", "citations");
        line.appendChild(element("span", "muted small", labels.cited));
        frame.citations.forEach((citation) => line.append(" ", citationLink(citation)));
        answer.article.appendChild(line);
      }
    } else if (frame.type === "done") {
      if (frame.offline) answer.article.querySelector(".message-head").append(" ", element("span", "badge offline", labels.offline));
      byId("library-chat-announcer").textContent = answer.text;
      finishAnswer("done");
    } else if (frame.type === "error") {
      answer.article.appendChild(element("p", "error-box small", frame.message));
      finishAnswer("error");
    }
  }

  function onSeriesEvent(frame) {
    const content = byId("series-content");
    if (frame.type === "start") {
      series = { text: "" };
      content.replaceChildren(element("p", "stream-text", ""));
      byId("series-links").replaceChildren();
    } else if (frame.type === "token" && series) {
      series.text += frame.text;
      content.firstChild.textContent = series.text;
    } else if (frame.type === "done") {
      if (series && content.firstChild) linkLabels(content.firstChild, series.text, frame.links || []);
      const links = byId("series-links");
      (frame.links || []).forEach((link) => links.append(citationLink(link), " "));
      byId("series-generate").disabled = false;
      series = null;
    } else if (frame.type === "error") {
      content.appendChild(element("p", "error-box small", frame.message));
      byId("series-generate").disabled = false;
      series = null;
    }
  }

  function onFrame(frame) {
    if (frame.type === "cancelled") {
      if (answer) {
        answer.article.appendChild(element("p", "muted small", labels.cancelled));
        finishAnswer("cancelled");
      }
      return;
    }
    if (frame.type === "ready") setSocketState("open");
    else if (frame.stream === "answer" && answer) onAnswerEvent(frame);
    else if (frame.stream === "summary") onSeriesEvent(frame);
    else if (frame.type === "error") {
      if (answer) onAnswerEvent(frame);
      else log.appendChild(element("p", "error-box small", frame.message));
    }
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + window.location.host + config.socketPath);
    setSocketState("connecting");
    socket.addEventListener("open", () => {
      reconnectDelay = 1000;
    });
    socket.addEventListener("message", (event) => onFrame(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      if (answer) onAnswerEvent({ type: "error", message: labels.disconnected });
      if (event.code === 4401 || event.code === 4404) {
        setSocketState("closed");
        return;
      }
      setSocketState("connecting");
      window.setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 15000);
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = question.value.trim();
    if (!text || answer || !ready || !socket || socket.readyState !== WebSocket.OPEN) return;
    addMessage("user", text);
    const article = addMessage("assistant", "");
    article.dataset.state = "streaming";
    answer = { article: article, paragraph: article.querySelector(".body p"), text: "" };
    answer.paragraph.textContent = labels.thinking;
    const frame = { type: "ask", question: text };
    if (conversationId) frame.conversation_id = conversationId;
    socket.send(JSON.stringify(frame));
    question.value = "";
    setRunning(true);
  });

  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  cancelButton.addEventListener("click", () => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "cancel" }));
  });

  const seriesButton = byId("series-generate");
  if (seriesButton) {
    seriesButton.addEventListener("click", () => {
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      seriesButton.disabled = true;
      const regenerate = byId("series-content").textContent.trim() !== "";
      socket.send(JSON.stringify({ type: regenerate ? "regenerate" : "summary", language: document.documentElement.lang.startsWith("en") ? "en" : "zh" }));
    });
  }

  connect();
})();
