// The mind map tab of the video page: the part's outline (chapters → key points → details) from
// GET .../parts/<page>/mindmap, drawn by markmap (static/vendor/markmap, loaded from this site the
// first time the tab opens; no CDN).
//
// Safety: the outline is Markdown made from transcript and model text. markmap-lib turns it into
// HTML with raw HTML and images switched off (so it is escaped text, links and emphasis), and only
// the plugins that fetch nothing are enabled (not katex, hljs or npmUrl).
// Seeking: every node of chat/mindmap.py's outline starts with its moment, `[[mm:ss]](player URL)`.
// Such a node becomes one link with data-seek="SECONDS" (the moment's own link unwrapped), which
// video.js's click handler turns into a seek of the player. Links are focusable, so Tab reaches
// them and Enter seeks. The circles fold and unfold (markmap's own).
// Exports: the outline as Markdown, a standalone HTML file with the vendored d3 and markmap-view
// inlined (it references nothing remote; nodes link to the moment on Bilibili), SVG, and PNG (the
// SVG drawn onto a canvas).
"use strict";

(function () {
  const configElement = document.getElementById("video-config");
  const panel = document.getElementById("mindmap-panel");
  if (!configElement || !panel) return;
  const config = JSON.parse(configElement.textContent);
  const labels = config.structureLabels;
  const byId = (id) => document.getElementById(id);
  const frame = byId("mindmap-frame");
  const svg = byId("mindmap-svg");
  const SAFE_PLUGINS = ["frontmatter", "checkbox", "sourceLines"];
  // A moment at the start of a node's text: [mm:ss], [h:mm:ss] (ASCII or full-width brackets), or bare.
  const MOMENT = /^\s*[[【]?\s*(?:(\d{1,2}):)?(\d{1,3}):(\d{2})\s*[\]】]?/;

  const state = {
    key: null, // the query the shown map was loaded with
    stale: true, // a newer summary may exist: reload when the tab is next shown
    outline: null, // {markdown, root} as loaded (root undecorated)
    markmap: null,
    loading: null,
  };
  let libraries = null;

  // --- Loading ------------------------------------------------------------------------------

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.async = false;
      script.addEventListener("load", resolve);
      script.addEventListener("error", () => reject(new Error("could not load " + src)));
      document.head.appendChild(script);
    });
  }

  // d3, then markmap-view (which needs the global d3), then markmap-lib: in order, once.
  function loadLibraries() {
    if (!libraries) {
      libraries = config.markmapScripts.reduce((loaded, src) => loaded.then(() => loadScript(src)), Promise.resolve());
      libraries.catch(() => (libraries = null));
    }
    return libraries;
  }

  function query() {
    const params = new URLSearchParams();
    params.set("language", byId("summary-language").value);
    params.set("style", byId("summary-style").value);
    return params.toString();
  }

  // Load and draw the map for the summary's current language and style (one load at a time).
  function load() {
    if (!state.loading) state.loading = loadOnce().finally(() => (state.loading = null));
    return state.loading;
  }

  async function loadOnce() {
    const key = query();
    if (!state.stale && state.key === key && state.markmap) return;
    setStatus(labels.mindmapLoading, false);
    frame.dataset.state = "loading";
    try {
      const [response] = await Promise.all([
        fetch(config.mindmapUrl + "?" + key, { credentials: "same-origin", headers: { Accept: "application/json" } }),
        loadLibraries(),
      ]);
      const body = await response.json().catch(() => null);
      if (!response.ok || !body || typeof body.markdown !== "string") {
        const message = body && body.error ? body.error.message : "";
        const empty = response.status === 404 || response.status === 409;
        frame.dataset.state = "error";
        return setStatus(empty ? labels.mindmapEmpty + (message ? " " + message : "") : message || labels.mindmapFailed, !empty);
      }
      state.outline = { markdown: body.markdown, root: outlineTree(body.markdown) };
      state.key = key;
      state.stale = false;
      await draw();
      setStatus(isExtractive(body) ? labels.mindmapExtractive : "", false);
      frame.dataset.state = "ready";
    } catch (error) {
      frame.dataset.state = "error";
      setStatus(labels.mindmapFailed, true);
    }
  }

  function isExtractive(body) {
    return body.extractive === true || body.offline === true;
  }

  // --- Outline ------------------------------------------------------------------------------

  // markmap's tree of the Markdown ({content: HTML, children, payload}), before decoration.
  function outlineTree(markdown) {
    const { Transformer, builtInPlugins } = window.markmap;
    const transformer = new Transformer(builtInPlugins.filter((plugin) => SAFE_PLUGINS.includes(plugin.name)));
    transformer.md.set({ html: false });
    transformer.md.disable(["image"], true);
    return transformer.transform(markdown).root;
  }

  function fragmentOf(html) {
    const template = document.createElement("template");
    template.innerHTML = html; // parsed inert: markdown-it's escaped output, never run
    return template.content;
  }

  function htmlOf(fragment) {
    const box = document.createElement("div");
    box.appendChild(fragment);
    return box.innerHTML;
  }

  function escapeHtml(text) {
    const span = document.createElement("span");
    span.textContent = text;
    return span.innerHTML;
  }

  function momentSeconds(text) {
    const match = MOMENT.exec(text);
    if (!match) return null;
    const seconds = Number(match[3]);
    if (seconds >= 60) return null;
    return (Number(match[1] || 0) * 60 + Number(match[2])) * 60 + seconds;
  }

  // A copy of the tree whose nodes with a moment are links: `href(seconds)` gives the address.
  // A leading link that is just the moment is unwrapped, then the whole node is the link (or a
  // time chip goes before it when it still holds another link).
  function decorated(node, href, extra) {
    const fragment = fragmentOf(String(node.content || ""));
    const seconds = momentSeconds(fragment.textContent || "");
    let html = String(node.content || "");
    if (seconds !== null) {
      const first = fragment.firstElementChild;
      if (first && first.tagName === "A" && fragment.firstChild === first && momentSeconds(first.textContent) === seconds) {
        first.replaceWith(document.createTextNode(first.textContent));
      }
      const attributes = 'class="mindmap-seek" href="' + escapeHtml(href(seconds)) + '" data-seek="' + seconds + '"' + extra;
      const inner = htmlOf(fragment);
      html = /<a[\s>]/i.test(inner)
        ? "<a " + attributes + ">▶</a> " + inner
        : "<a " + attributes + ">" + inner + "</a>";
    }
    const payload = { ...(node.payload || {}) };
    if (seconds !== null) payload.seconds = seconds;
    return { ...node, content: html, payload: payload, children: (node.children || []).map((child) => decorated(child, href, extra)) };
  }

  async function draw() {
    const root = decorated(state.outline.root, (seconds) => "#t=" + seconds, "");
    if (!state.markmap) {
      state.markmap = window.markmap.Markmap.create(svg, { duration: 300, maxWidth: 320, initialExpandLevel: 3 });
    }
    await state.markmap.setData(root);
    await state.markmap.fit();
  }

  // --- Tab, summary and controls ------------------------------------------------------------

  document.addEventListener("chatbili:tab", (event) => {
    if (event.detail.panel === "mindmap-panel") load();
  });

  // A new summary (another style or language, or regenerated) makes a new mind map.
  document.addEventListener("chatbili:summary", () => {
    state.stale = true;
    if (!panel.hidden) load();
  });

  byId("mindmap-fit").addEventListener("click", () => state.markmap && state.markmap.fit());
  byId("mindmap-zoom-in").addEventListener("click", () => state.markmap && state.markmap.rescale(1.25));
  byId("mindmap-zoom-out").addEventListener("click", () => state.markmap && state.markmap.rescale(0.8));

  function setStatus(text, isError) {
    const status = byId("mindmap-status");
    status.textContent = text || "";
    status.classList.toggle("error", Boolean(isError));
  }

  // --- Exports ------------------------------------------------------------------------------

  function saveBlob(blob, filename) {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filename;
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  function exporting(format, work) {
    byId("mindmap-export-" + format).addEventListener("click", async () => {
      if (!state.outline) await load();
      if (!state.outline) return;
      try {
        await work();
      } catch (error) {
        setStatus(labels.exportFailed, true);
      }
    });
  }

  exporting("md", async () => {
    saveBlob(new Blob([state.outline.markdown], { type: "text/markdown;charset=utf-8" }), config.exportName + ".md");
  });

  exporting("html", async () => {
    const sources = await Promise.all(
      config.markmapScripts.slice(0, 2).map((src) =>
        fetch(src, { credentials: "same-origin" }).then((response) => {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.text();
        }),
      ),
    );
    const momentUrl = (seconds) => {
      const url = new URL(config.videoUrl);
      url.searchParams.set("t", String(seconds));
      return url.toString();
    };
    const root = decorated(state.outline.root, momentUrl, ' target="_blank" rel="noopener noreferrer"');
    saveBlob(new Blob([standaloneHtml(root, sources)], { type: "text/html;charset=utf-8" }), config.exportName + ".html");
  });

  // Inline script text that cannot end its <script> element early.
  function inlineScript(code) {
    return "<script>" + code.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--") + "</script>";
  }

  function standaloneHtml(root, sources) {
    const title = document.title;
    const data = JSON.stringify(root).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
    return [
      "<!doctype html>",
      '<html lang="' + escapeHtml(document.documentElement.lang || "zh-hans") + '">',
      '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
      "<title>" + escapeHtml(title) + "</title>",
      "<style>html,body{margin:0;height:100%}svg.markmap{display:block;width:100vw;height:100vh}</style>",
      "</head><body>",
      '<svg id="mindmap" class="markmap"></svg>',
      inlineScript(sources[0]),
      inlineScript(sources[1]),
      inlineScript("markmap.Markmap.create(document.getElementById('mindmap'), {maxWidth: 320}, " + data + ");"),
      "</body></html>",
      "",
    ].join("\n");
  }

  // The drawn map as a standalone SVG document: the whole map (not the zoomed view) on white.
  function svgDocument() {
    const rect = state.markmap.state.rect;
    const padding = 20;
    const width = Math.ceil(rect.x2 - rect.x1 + 2 * padding);
    const height = Math.ceil(rect.y2 - rect.y1 + 2 * padding);
    const copy = svg.cloneNode(true);
    copy.setAttribute("xmlns", "http://www.w3.org/2000/svg");
    copy.setAttribute("width", String(width));
    copy.setAttribute("height", String(height));
    copy.setAttribute("viewBox", "0 0 " + width + " " + height);
    copy.removeAttribute("style");
    const group = copy.querySelector("svg > g");
    group.setAttribute("transform", "translate(" + (padding - rect.x1) + "," + (padding - rect.y1) + ")");
    const background = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    background.setAttribute("width", "100%");
    background.setAttribute("height", "100%");
    background.setAttribute("fill", "#fff");
    copy.insertBefore(background, copy.firstChild);
    for (const link of copy.querySelectorAll("a[data-seek]")) {
      const url = new URL(config.videoUrl);
      url.searchParams.set("t", link.getAttribute("data-seek"));
      link.setAttribute("href", url.toString());
    }
    return { text: new XMLSerializer().serializeToString(copy), width: width, height: height };
  }

  exporting("svg", async () => {
    const { text } = svgDocument();
    saveBlob(new Blob([text], { type: "image/svg+xml;charset=utf-8" }), config.exportName + ".svg");
  });

  // PNG at twice the size: the SVG as a data: image (img-src allows data:) drawn onto a canvas.
  exporting("png", async () => {
    const { text, width, height } = svgDocument();
    const image = new Image();
    await new Promise((resolve, reject) => {
      image.addEventListener("load", resolve);
      image.addEventListener("error", () => reject(new Error("the SVG did not load as an image")));
      image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(text);
    });
    const scale = 2;
    const canvas = document.createElement("canvas");
    canvas.width = width * scale;
    canvas.height = height * scale;
    const context = canvas.getContext("2d");
    context.scale(scale, scale);
    context.drawImage(image, 0, 0, width, height);
    const blob = await new Promise((resolve, reject) =>
      canvas.toBlob((result) => (result ? resolve(result) : reject(new Error("no PNG"))), "image/png"),
    );
    saveBlob(blob, config.exportName + ".png");
  });
})();
