"""Headless Chromium as the browser-console tests and bench/web.py drive it.

The distribution's Chromium (.ci/run installs it); Playwright never downloads one here.
"""

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# machine's closed network refuses, many at a time.
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Keep a handle on each xterm.js Terminal the page builds (textual-serve's client
# keeps none). The public Terminal is the object given a `_core` that also has loadAddon.
FIND_TERMINALS = """
window.__terminals = [];
Object.defineProperty(Object.prototype, '_core', {
  configurable: true,
  set(value) {
    Object.defineProperty(this, '_core', {value, writable: true, configurable: true, enumerable: true});
    if (typeof this.loadAddon === 'function') window.__terminals.push(this);
  },
});
window.__screen = () => {
  const term = window.__terminals[0];
  if (!term) return '';
  const buffer = term.buffer.active, lines = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    lines.push(line ? line.translateToString(true) : '');
  }
  return lines.join('\\n');
};
"""
