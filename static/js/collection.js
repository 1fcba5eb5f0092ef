// The collection page: follow the overall bar and every item's state until all are finished.
// It listens on the collection's progress socket (ws/collections/<id>/progress/: "collection" and
// "item" frames); only when the socket cannot be used does it poll the API instead. The "retry
// failed" button follows the overall counts: there while any item is failed.
(function () {
  "use strict";
  var box = document.getElementById("collection-progress");
  if (!box) return;
  var bar = document.getElementById("collection-bar");
  var summary = document.getElementById("collection-summary");
  var list = document.getElementById("collection-items");
  var retry = document.getElementById("collection-retry");
  var POLL_MS = 1500;
  var polling = false;
  var done = false;

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // A row for an item the page did not have (more parts of a video found while ingesting).
  function addRow(item) {
    var row = element("li");
    row.dataset.itemId = String(item.id);
    row.dataset.position = String(item.position);
    row.appendChild(element("span", "", item.title || item.bvid));
    row.append(" ", element("span", "muted small", item.bvid + (item.page > 1 ? " · P" + item.page : "")), " ");
    var progress = element("progress");
    progress.max = 100;
    progress.setAttribute("aria-label", item.title || item.bvid);
    row.append(progress, " ", element("span", "item-state"), " ", element("span", "item-error error"));
    var after = Array.prototype.find.call(list.children, function (other) {
      return Number(other.dataset.position) > item.position;
    });
    list.insertBefore(row, after || null);
    return row;
  }

  function renderItem(item) {
    var row = list.querySelector('[data-item-id="' + item.id + '"]') || addRow(item);
    row.dataset.state = item.state;
    row.querySelector("progress").value = item.percent;
    row.querySelector(".item-state").textContent = item.stage && item.state === "running" ? item.state + " · " + item.stage : item.state;
    row.querySelector(".item-error").textContent = item.error || "";
    var name = row.firstElementChild;
    if (item.state === "ready" && name.tagName !== "A") {
      var link = element("a", "", name.textContent);
      link.href = "/videos/" + encodeURIComponent(item.bvid) + "/" + item.page + "/";
      row.replaceChild(link, name);
    }
  }

  function renderCollection(collection) {
    bar.value = collection.percent;
    bar.textContent = collection.percent + "%";
    summary.textContent = collection.finished + "/" + collection.total + " · " + collection.percent + "%";
    // "Retry failed" is offered while an item is failed: shown when one fails, hidden once none is.
    if (retry && collection.counts) retry.hidden = !(collection.counts.failed > 0);
    done = collection.done;
  }

  function tick() {
    Promise.all([getJSON(box.dataset.collectionUrl), getJSON(box.dataset.itemsUrl)])
      .then(function (results) {
        results[1].forEach(renderItem);
        renderCollection(results[0]);
        if (!done) window.setTimeout(tick, POLL_MS);
      })
      .catch(function () { window.setTimeout(tick, POLL_MS * 4); });
  }

  function poll() {
    if (polling || done) return;
    polling = true;
    box.dataset.follow = "polling";
    window.setTimeout(tick, POLL_MS);
  }

  function listen() {
    if (!box.dataset.socketPath || typeof WebSocket === "undefined") return poll();
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    var socket;
    try {
      socket = new WebSocket(scheme + "//" + window.location.host + box.dataset.socketPath);
    } catch (error) {
      return poll();
    }
    socket.addEventListener("open", function () { box.dataset.follow = "socket"; });
    socket.addEventListener("message", function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type === "item") renderItem(frame);
      else if (frame.type === "collection") renderCollection(frame);
    });
    socket.addEventListener("close", function (event) {
      // Signed out or not the user's: polling would be refused too. Otherwise, fall back to it.
      if (event.code === 4401 || event.code === 4404) return;
      poll();
    });
  }

  listen();
})();
