// The collection page: follow the overall bar and every item's state until all are finished.
(function () {
  "use strict";
  var box = document.getElementById("collection-progress");
  if (!box) return;
  var bar = document.getElementById("collection-bar");
  var summary = document.getElementById("collection-summary");
  var list = document.getElementById("collection-items");
  var POLL_MS = 1500;

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  function renderItem(item) {
    var row = list.querySelector('[data-item-id="' + item.id + '"]');
    if (!row) return;  // an item added since the page loaded shows on the next reload
    row.dataset.state = item.state;
    row.querySelector("progress").value = item.percent;
    row.querySelector(".item-state").textContent = item.stage && item.state === "running" ? item.state + " · " + item.stage : item.state;
    row.querySelector(".item-error").textContent = item.error || "";
  }

  function tick() {
    Promise.all([getJSON(box.dataset.collectionUrl), getJSON(box.dataset.itemsUrl)])
      .then(function (results) {
        var collection = results[0];
        bar.value = collection.percent;
        bar.textContent = collection.percent + "%";
        summary.textContent = collection.finished + "/" + collection.total + " · " + collection.percent + "%";
        results[1].forEach(renderItem);
        if (!collection.done) window.setTimeout(tick, POLL_MS);
      })
      .catch(function () { window.setTimeout(tick, POLL_MS * 4); });
  }
  window.setTimeout(tick, POLL_MS);
})();
