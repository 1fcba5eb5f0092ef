// Admin: Bilibili QR login. Asks for a QR code, shows it, polls until success or expiry.
(function () {
  "use strict";
  const box = document.getElementById("bilibili-qr");
  if (!box) return;
  const startButton = document.getElementById("qr-start");
  const image = document.getElementById("qr-image");
  const stateLine = document.getElementById("qr-state");
  const interval = Number(box.dataset.interval) || 2000;
  const csrf = box.querySelector("input[name=csrfmiddlewaretoken]").value;
  let timer = null;

  function show(reply) {
    stateLine.textContent = reply.message || "";
    stateLine.dataset.state = reply.state || "";
  }

  async function poll(key) {
    let reply;
    try {
      const response = await fetch(box.dataset.pollUrl + "?key=" + encodeURIComponent(key), {credentials: "same-origin"});
      reply = await response.json();
    } catch (error) {
      reply = {state: "error", message: String(error)};
    }
    show(reply);
    if (reply.state === "waiting" || reply.state === "scanned") {
      timer = setTimeout(() => poll(key), interval);
    } else if (reply.state === "success") {
      image.replaceChildren();
      setTimeout(() => window.location.reload(), 1500);
    } else {
      image.replaceChildren();
      startButton.disabled = false;
    }
  }

  async function start() {
    clearTimeout(timer);
    startButton.disabled = true;
    const response = await fetch(box.dataset.startUrl, {
      method: "POST", credentials: "same-origin", headers: {"X-CSRFToken": csrf},
    });
    const reply = await response.json();
    show(reply);
    if (!response.ok) {
      startButton.disabled = false;
      return;
    }
    image.innerHTML = reply.svg;  // made by segno on the server from Bilibili's login URL
    timer = setTimeout(() => poll(reply.key), interval);
  }

  startButton.addEventListener("click", start);
})();
