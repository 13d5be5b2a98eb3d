// The lecture in a browser: the server sends the rows of a shared screen, xterm.js draws them.
// The page measures its window in cells at BASE, says so, and is told the view class it follows;
// then it sizes the terminal to that class and scales the font to fill the window.
"use strict";
(function () {
  const BASE = 14;  // px: the font size the window is measured in
  const status = document.getElementById("status");
  const box = document.getElementById("terminal");
  const token = new URLSearchParams(location.search).get("token") || "";
  const term = new Terminal({
    fontSize: BASE,
    fontFamily: '"DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace',
    screenReaderMode: true,  // the screen's text, row by row, for screen readers
    scrollback: 0,
    cursorBlink: false,
    theme: { background: "#000000" },
  });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  term.focus();
  box.addEventListener("click", () => term.focus());

  let ws = null;
  let view = null;  // [columns, rows] of the class followed; null: the window is too small
  let sent = "";  // the size last told to the server
  let ended = false;
  let retry = 1000;

  function say(text) {
    status.textContent = text;
  }

  function measure() {  // the window, in cells of the base font
    const dims = fit.proposeDimensions();
    if (!dims || !isFinite(dims.cols) || !isFinite(dims.rows)) return null;
    const scale = term.options.fontSize / BASE;
    return [Math.max(1, Math.floor(dims.cols * scale)), Math.max(1, Math.floor(dims.rows * scale))];
  }

  function scale() {  // the class's screen as large as the window allows
    const dims = fit.proposeDimensions();
    if (!view || !dims) return;
    const font = term.options.fontSize;
    const next = Math.max(5, Math.floor(font * Math.min(dims.cols / view[0], dims.rows / view[1]) * 0.98 * 10) / 10);
    if (Math.abs(next - font) >= 0.1) term.options.fontSize = next;
    requestAnimationFrame(shrinkToFit);
  }

  function shrinkToFit(tries = 20) {  // cells round to whole pixels: make sure the last row shows
    const screen = term.element && term.element.querySelector(".xterm-screen");
    if (!screen || tries <= 0 || term.options.fontSize <= 5) return;
    if (screen.offsetHeight > box.clientHeight || screen.offsetWidth > box.clientWidth) {
      term.options.fontSize -= 0.5;
      requestAnimationFrame(() => shrinkToFit(tries - 1));
    }
  }

  function tellSize() {
    const size = measure();
    if (!size || !ws || ws.readyState !== WebSocket.OPEN) return;
    if (size.join("x") === sent) {
      scale();
      return;
    }
    sent = size.join("x");
    ws.send(JSON.stringify({ size: size }));
  }

  function show(next, window) {
    view = next;
    if (view) {
      term.resize(view[0], view[1]);
      scale();
      say(`Following the presenter (${view[0]}x${view[1]}).`);
    } else {
      term.options.fontSize = BASE;
      term.resize(window[0], window[1]);
      say("This window is too small for the lecture: make it larger, or turn the phone sideways.");
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(`${scheme}//${location.host}/ws?token=${encodeURIComponent(token)}`);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      retry = 1000;
      sent = "";
      say("Joining the lecture…");
      tellSize();
    };
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") {
        term.write(new Uint8Array(event.data));
        return;
      }
      const message = JSON.parse(event.data);
      if ("view" in message) show(message.view, message.window);
      if ("end" in message) {
        ended = true;
        document.body.classList.add("ended");
        say(message.end);
      }
    };
    ws.onclose = () => {
      ws = null;
      if (ended) return;
      say("The connection to the lecture was lost: trying again…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  term.onData((keys) => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ keys: keys.slice(0, 256) }));
  });
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(tellSize, 100);
  });
  connect();
})();
