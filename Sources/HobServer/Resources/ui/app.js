// Hob's dashboard: a single page over the Sprites v1 API of the daemon that serves it.
//
// Three views, picked by the URL's hash: the login (no token in this tab), the sprite list (`#/`)
// and one sprite (`#/sprite/NAME`). Each view owns a `ViewLife`: its timers, streams and terminal end
// when the view is left. The token lives in sessionStorage and goes out only as a Bearer header (REST)
// or inside the WebSocket subprotocol offer (browsers cannot set headers on a WebSocket).
//
// API data reaches the page only through textContent and attributes, never as HTML. The page asks
// only for what the token's caveats allow (they are readable in the token itself, docs/ACCESS.md), so
// a scoped token sees no button it could not use; a refusal that still comes is shown, never dropped.
"use strict";

const STORAGE_TOKEN = "hob.token";
const STORAGE_SPRITE = "hob.sprite";
const ALL_OPS = ["read", "exec", "files", "checkpoints", "lifecycle", "create", "url", "tokens", "admin"];
const CHART_POINTS = 60;

// ---------------------------------------------------------------------------------------------
// Small helpers

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes, never HTML). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "onclick") node.addEventListener("click", value);
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** "2h 03m", "4m 10s", "12s", as `hob usage` prints them. */
function formatDuration(seconds) {
  const total = Math.round(seconds || 0);
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  if (h > 0) return `${h}h ${pad(m)}m`;
  if (m > 0) return `${m}m ${pad(s)}s`;
  return `${s}s`;
}

function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso ?? "") : date.toLocaleString();
}

function base64urlEncode(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function base64urlDecode(text) {
  const standard = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(standard + "=".repeat((4 - (standard.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

// ---------------------------------------------------------------------------------------------
// Messages: one line under the header, for errors (the Sprites error body's message) and news. A
// message survives the navigation that immediately follows it ("Forked … as x", then x's page).

let messageShownAt = 0;

function showError(error) {
  if (error && error.name === "AbortError") return;
  const box = $("message");
  box.className = "";
  box.textContent = error instanceof ApiError ? error.message : `Error: ${error && error.message ? error.message : error}`;
  box.hidden = false;
  messageShownAt = Date.now();
}

function showInfo(text) {
  const box = $("message");
  box.className = "info";
  box.textContent = text;
  box.hidden = false;
  const shownAt = messageShownAt = Date.now();
  setTimeout(() => { if (messageShownAt === shownAt) clearMessage(); }, 6000); // news fades; errors stay
}

function clearMessage() {
  $("message").hidden = true;
}

// ---------------------------------------------------------------------------------------------
// The token and what it may do

/**
 * What a token may do, read from its caveats. The admin token (`hob_…`) has none. A scoped token is
 * `<org>/<id>/<body>`, body = base64url(0x01 ‖ per caveat: 2-byte length ‖ text ‖ 32-byte signature).
 * Every caveat narrows, so repeated `ops=` or `sprite=` caveats intersect.
 */
class Scope {
  constructor(token) {
    this.ops = null;       // null: every operation
    this.sprites = null;   // null: every sprite
    this.narrowed = false; // a sprite, prefix or label caveat: never `admin`
    this.expires = null;
    this.caveats = [];
    const parts = token.split("/");
    if (parts.length === 1) return;
    if (parts.length !== 3) throw new Error("this is not a Hob token (expected hob_… or org/tok_…/…)");
    for (const caveat of Scope.caveatsOf(parts[2])) this.add(caveat);
  }

  static caveatsOf(body) {
    let bytes;
    try { bytes = base64urlDecode(body); } catch { throw new Error("the token's body is not base64url"); }
    if (bytes[0] !== 1) throw new Error("the token's format is unknown");
    const caveats = [];
    const decoder = new TextDecoder();
    let offset = 1;
    while (bytes.length - offset > 32) {
      const length = (bytes[offset] << 8) | bytes[offset + 1];
      caveats.push(decoder.decode(bytes.subarray(offset + 2, offset + 2 + length)));
      offset += 2 + length;
    }
    return caveats;
  }

  add(caveat) {
    this.caveats.push(caveat);
    const [key, value = ""] = caveat.split(/=(.*)/s);
    const list = value.split(",").filter(Boolean);
    if (key === "ops") {
      this.ops = this.ops ? new Set(list.filter((op) => this.ops.has(op))) : new Set(list);
    } else if (key === "sprite") {
      this.sprites = this.sprites ? this.sprites.filter((s) => list.includes(s)) : list;
      this.narrowed = true;
    } else if (key === "prefix" || key === "label") {
      this.narrowed = true;
    } else if (key === "expires") {
      this.expires = new Date(Number(value) * 1000);
    }
  }

  can(op) {
    if (op === "admin" && this.narrowed) return false;
    return this.ops === null || this.ops.has(op);
  }

  describe() {
    if (this.caveats.length === 0) return "admin token: every operation on every sprite";
    const ops = ALL_OPS.filter((op) => this.can(op)).join(", ") || "nothing";
    const where = this.sprites ? `sprites ${this.sprites.join(", ")}` : this.narrowed ? "some sprites" : "every sprite";
    const until = this.expires ? ` · until ${this.expires.toLocaleString()}` : "";
    return `scoped token: ${where} · may ${ops}${until}`;
  }
}

const session = {
  token: sessionStorage.getItem(STORAGE_TOKEN) || "",
  sprite: sessionStorage.getItem(STORAGE_SPRITE) || "",
  scope: null,
};

function can(op) {
  return session.scope !== null && session.scope.can(op);
}

function logout(reason) {
  sessionStorage.removeItem(STORAGE_TOKEN);
  sessionStorage.removeItem(STORAGE_SPRITE);
  session.token = "";
  session.sprite = "";
  session.scope = null;
  navigate("#/");
  if (reason) showError(reason);
}

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function apiError(response) {
  const text = await response.text();
  let code = "";
  let message = text || response.statusText;
  try {
    const body = JSON.parse(text);
    code = body.error || "";
    message = body.message || body.error || message;
  } catch { /* not JSON: keep the text */ }
  if (response.status === 403) message = `Not allowed: ${message}`;
  return new ApiError(response.status, code, `${message} (${response.status})`);
}

/** One API call with the session's token; throws ApiError for a 4xx or 5xx answer. */
async function api(method, path, { body, accept, signal } = {}) {
  const headers = { Authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (accept) headers.Accept = accept;
  const response = await fetch(path, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 && session.token) {
    const error = await apiError(response);
    logout(`This token was refused: ${error.message}`);
    throw error;
  }
  if (!response.ok) throw await apiError(response);
  return response;
}

async function apiJSON(method, path, options) {
  const response = await api(method, path, options);
  return response.status === 204 ? null : response.json();
}

/** Calls onLine with each JSON line of an NDJSON answer as it arrives. */
async function readLines(response, onLine) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  const flush = (final) => {
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0 || (final && pending.trim())) {
      const line = newline >= 0 ? pending.slice(0, newline) : pending;
      pending = newline >= 0 ? pending.slice(newline + 1) : "";
      if (line.trim()) onLine(JSON.parse(line));
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    flush(false);
  }
  pending += decoder.decode();
  flush(true);
}

const spritePath = (name, rest = "") => `/v1/sprites/${encodeURIComponent(name)}${rest}`;

// ---------------------------------------------------------------------------------------------
// A view's lifetime: everything it started stops when it is left.

class ViewLife {
  constructor() {
    this.controller = new AbortController();
    this.timers = [];
    this.cleanups = [];
  }

  get signal() { return this.controller.signal; }
  get alive() { return !this.controller.signal.aborted; }

  /** Runs task now and every `ms`; a failure is shown, and the next round tries again. */
  every(ms, task) {
    const run = () => { if (this.alive) task().catch((error) => { if (this.alive) showError(error); }); };
    run();
    this.timers.push(setInterval(run, ms));
  }

  onStop(cleanup) { this.cleanups.push(cleanup); }

  stop() {
    this.controller.abort();
    this.timers.forEach(clearInterval);
    this.cleanups.forEach((cleanup) => cleanup());
  }
}

let currentLife = null;

/** Goes to a view: a new hash routes through `hashchange`; the same one is routed again here. */
function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function route() {
  if (currentLife) currentLife.stop();
  currentLife = new ViewLife();
  for (const id of ["login-view", "list-view", "sprite-view"]) $(id).hidden = true;
  $("logout").hidden = !session.token;
  $("scope").textContent = session.scope ? session.scope.describe() : "";

  const match = location.hash.match(/^#\/sprite\/(.+)$/);
  if (!session.token) showLogin();
  else if (match) showSprite(currentLife, decodeURIComponent(match[1]));
  else if (!can("read") && session.sprite) navigate(`#/sprite/${encodeURIComponent(session.sprite)}`);
  else showList(currentLife);
}

// ---------------------------------------------------------------------------------------------
// Login

function showLogin() {
  $("login-view").hidden = false;
  $("login-token").focus();
}

async function login(event) {
  event.preventDefault();
  clearMessage();
  const token = $("login-token").value.trim();
  const sprite = $("login-sprite").value.trim();
  let scope;
  try { scope = new Scope(token); } catch (error) { showError(error); return; }
  if (!scope.can("read") && !sprite) {
    showError("This token may not list sprites: enter the name of a sprite it may use.");
    return;
  }
  session.token = token;
  session.scope = scope;
  try {
    // The check a login needs: the token is known and in force. A token that cannot read goes
    // straight to its sprite's page, where each action still answers for itself.
    if (scope.can("read")) await api("GET", sprite ? spritePath(sprite) : "/v1/sprites?max_results=1");
  } catch (error) {
    session.token = "";
    session.scope = null;
    showError(error);
    return;
  }
  sessionStorage.setItem(STORAGE_TOKEN, token);
  sessionStorage.setItem(STORAGE_SPRITE, sprite);
  session.sprite = sprite;
  $("login-token").value = "";
  $("login-sprite").value = "";
  navigate(sprite ? `#/sprite/${encodeURIComponent(sprite)}` : "#/");
}

// ---------------------------------------------------------------------------------------------
// Charts: an inline SVG line of the last CHART_POINTS samples.

/** A series of rates computed from a cumulative counter (CPU seconds → CPU %). */
class RateSeries {
  constructor() { this.points = []; this.last = null; }

  add(total, scale = 1) {
    const now = performance.now() / 1000;
    if (this.last && now > this.last.t) {
      const rate = Math.max(0, (total - this.last.total) / (now - this.last.t)) * scale;
      this.points.push(rate);
      if (this.points.length > CHART_POINTS) this.points.shift();
    }
    this.last = { t: now, total };
  }
}

function drawChart(container, values, label) {
  const svgNS = "http://www.w3.org/2000/svg";
  const width = 640, height = 150, left = 44, top = 10, bottom = 22;
  const make = (tag, attributes, text) => {
    const node = document.createElementNS(svgNS, tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const max = Math.max(1, ...values) * 1.1;
  const x = (i) => left + (i * (width - left - 8)) / (CHART_POINTS - 1);
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const svg = make("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  svg.append(make("line", { class: "axis", x1: left, y1: y(0), x2: width - 8, y2: y(0) }));
  svg.append(make("line", { class: "axis", x1: left, y1: top, x2: left, y2: y(0) }));
  svg.append(make("text", { class: "label", x: 4, y: top + 10 }, max.toFixed(max < 10 ? 1 : 0)));
  svg.append(make("text", { class: "label", x: 4, y: y(0) }, "0"));
  const latest = values.length ? values[values.length - 1].toFixed(1) : "–";
  svg.append(make("text", { class: "label", x: left + 6, y: height - 6 }, `${label} · now ${latest}`));
  const offset = CHART_POINTS - values.length;
  const points = values.map((v, i) => `${x(i + offset).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  if (values.length > 1) svg.append(make("polyline", { class: "line", points }));
  container.replaceChildren(svg);
}

// ---------------------------------------------------------------------------------------------
// Buttons that act on the API

/** Runs action with the button disabled; shows its failure. */
async function busy(button, action) {
  button.disabled = true;
  try { await action(); } catch (error) { showError(error); } finally { button.disabled = false; }
}

/** A destructive button: the first click asks, a second within 4 s acts. */
function confirmButton(button, question, action) {
  const label = button.textContent;
  let timer = null;
  button.addEventListener("click", () => {
    if (!timer) {
      button.textContent = question;
      button.classList.add("confirm");
      timer = setTimeout(() => { button.textContent = label; button.classList.remove("confirm"); timer = null; }, 4000);
      return;
    }
    clearTimeout(timer);
    timer = null;
    button.textContent = label;
    button.classList.remove("confirm");
    busy(button, action);
  });
}

// ---------------------------------------------------------------------------------------------
// The sprite list

function showList(life) {
  $("list-view").hidden = false;
  $("create-form").hidden = !can("create");
  $("host-usage").hidden = !can("admin");
  const rows = new Map(); // name → { row, cells }
  const tbody = $("sprite-rows");
  tbody.replaceChildren();
  const hostCPU = new RateSeries();

  function rowFor(name) {
    if (rows.has(name)) return rows.get(name);
    const cells = {
      status: el("span", { className: "status", "data-testid": `status-${name}` }),
      cpu: el("td"), memory: el("td"), running: el("td"), disk: el("td"),
    };
    const actions = el("td", { className: "actions" });
    if (can("lifecycle")) {
      const sleep = el("button", { "data-testid": `sleep-${name}` }, "Sleep");
      sleep.addEventListener("click", () => busy(sleep, async () => {
        await apiJSON("POST", spritePath(name, "/sleep"), { body: { state: "warm" } });
        showInfo(`${name} is asleep.`);
      }));
      const destroy = el("button", { className: "danger", "data-testid": `destroy-${name}` }, "Destroy");
      confirmButton(destroy, "Really destroy?", async () => {
        await api("DELETE", spritePath(name));
        removeRow(name);
        showInfo(`${name} was destroyed.`);
      });
      actions.append(sleep, destroy);
    }
    const link = el("a", { href: `#/sprite/${encodeURIComponent(name)}`, "data-testid": `sprite-link-${name}` }, name);
    const row = el("tr", { "data-sprite": name }, el("td", {}, link), el("td", {}, cells.status),
      cells.cpu, cells.memory, cells.running, cells.disk, actions);
    const entry = { row, cells };
    rows.set(name, entry);
    // Keep the table sorted by name.
    const after = [...tbody.children].find((other) => other.dataset.sprite > name);
    tbody.insertBefore(row, after || null);
    return entry;
  }

  function removeRow(name) {
    const entry = rows.get(name);
    if (entry) entry.row.remove();
    rows.delete(name);
  }

  function setStatus(name, status) {
    const badge = rowFor(name).cells.status;
    badge.textContent = status;
    badge.className = `status ${status}`;
  }

  function setUsage(usage) {
    if (!rows.has(usage.name)) return;
    const { cells } = rows.get(usage.name);
    cells.cpu.textContent = `${usage.cpu_seconds.toFixed(1)} s`;
    cells.memory.textContent = formatBytes(usage.memory_average_bytes);
    cells.running.textContent = formatDuration(usage.running_seconds);
    cells.disk.textContent = formatBytes(usage.disk_bytes);
  }

  function setOrg(org) {
    if (org) $("org-counts").textContent = `${org.name}: ${org.running} running, ${org.warm} warm, ${org.cold} cold`;
  }

  // Live state: the NDJSON list stream (`hob list -w`); if it cannot be had, a poll every 2 s.
  let arrived;
  const listArrived = new Promise((resolve) => { arrived = resolve; });

  async function watch() {
    const response = await api("GET", "/v1/sprites", { accept: "application/x-ndjson", signal: life.signal });
    const seen = new Set();
    let synced = false;
    await readLines(response, (event) => {
      setOrg(event.org);
      if (event.type === "sprite" || event.type === "created" || event.type === "updated") {
        setStatus(event.name, event.status);
        seen.add(event.name);
      } else if (event.type === "deleted") {
        removeRow(event.name);
      } else if (event.type === "synced" && !synced) {
        synced = true;
        for (const name of [...rows.keys()]) if (!seen.has(name)) removeRow(name);
        arrived();
      }
    });
  }

  async function poll() {
    const list = await apiJSON("GET", "/v1/sprites?max_results=500", { signal: life.signal });
    setOrg(list.org);
    const names = new Set(list.sprites.map((sprite) => sprite.name));
    for (const name of [...rows.keys()]) if (!names.has(name)) removeRow(name);
    for (const sprite of list.sprites) setStatus(sprite.name, sprite.status);
    arrived();
  }

  watch()
    .catch((error) => { if (life.alive && error.status !== 401) console.warn("live list unavailable, polling:", error.message); })
    .finally(() => { if (life.alive) life.every(2000, poll); });

  // Usage: the host's endpoint gives every sprite at once (admin); otherwise each sprite's own.
  if (can("admin")) {
    life.every(3000, async () => {
      const host = await apiJSON("GET", "/v1/usage", { signal: life.signal });
      host.sprites.forEach(setUsage);
      hostCPU.add(host.total.cpu_seconds + host.destroyed.cpu_seconds, 100);
      drawChart($("host-chart"), hostCPU.points, "host CPU %");
      $("host-totals").textContent = `${host.total.sprites} sprites · CPU ${host.total.cpu_seconds.toFixed(1)} s · ` +
        `running ${formatDuration(host.total.running_seconds)} · warm ${formatDuration(host.total.warm_seconds)} · ` +
        `disk ${formatBytes(host.total.disk_bytes)} · destroyed sprites used ${host.destroyed.cpu_seconds.toFixed(1)} s CPU`;
    });
  } else if (can("read")) {
    // Once the list has arrived, then every 5 s.
    const perSprite = async () => {
      const names = [...rows.keys()].slice(0, 25);
      const usages = await Promise.all(names.map((name) =>
        apiJSON("GET", spritePath(name, "/usage"), { signal: life.signal }).catch(() => null)));
      usages.filter(Boolean).forEach(setUsage);
    };
    listArrived.then(() => life.every(5000, perSprite));
  }
}

async function createSprite(event) {
  event.preventDefault();
  const input = $("create-name");
  const name = input.value.trim();
  await busy(event.submitter || $("create-form").querySelector("button"), async () => {
    await apiJSON("POST", "/v1/sprites", { body: { name } });
    input.value = "";
    showInfo(`Created ${name}.`);
  });
}

// ---------------------------------------------------------------------------------------------
// One sprite

function showSprite(life, name) {
  $("sprite-view").hidden = false;
  $("sprite-name").textContent = name;
  $("sprite-status").textContent = "";
  $("sprite-info").replaceChildren();
  $("checkpoint-rows").replaceChildren();
  $("service-rows").replaceChildren();
  for (const id of ["progress", "service-log", "fork-form"]) $(id).hidden = true;
  $("sprite-chart").replaceChildren();
  $("sprite-totals").textContent = "";
  $("terminal").replaceChildren();
  $("terminal").hidden = true;
  for (const part of document.querySelectorAll("#sprite-view .needs-read")) part.hidden = !can("read");

  const view = new SpriteView(life, name);
  view.start();
}

class SpriteView {
  constructor(life, name) {
    this.life = life;
    this.name = name;
    this.busyState = "";  // "restoring" while a restore streams: the badge shows it
    this.polledStatus = "";
    this.cpu = new RateSeries();
    this.terminal = null;
    // The page's buttons are static: give them this view's actions (replacing the last view's).
    this.bind("sprite-sleep", can("lifecycle"), (button) =>
      button.addEventListener("click", () => busy(button, () => this.sleep())));
    this.bind("sprite-destroy", can("lifecycle"), (button) =>
      confirmButton(button, "Really destroy?", () => this.destroy()));
    this.bind("terminal-connect", can("exec"), (button) =>
      button.addEventListener("click", () => this.openTerminal()));
    this.bind("terminal-disconnect", false, (button) =>
      button.addEventListener("click", () => this.closeTerminal("closed")));
    $("checkpoint-form").hidden = !can("checkpoints");
    this.formHandler("checkpoint-form", (event) => this.takeCheckpoint(event));
    this.formHandler("fork-form", (event) => this.fork(event));
    $("fork-cancel").onclick = () => { $("fork-form").hidden = true; };
    $("terminal-state").textContent = can("exec") ? "" : "this token may not run commands";
    life.onStop(() => this.closeTerminal("left the page"));
  }

  /** Replaces a static button with a fresh copy (dropping old listeners), shown only if allowed. */
  bind(id, allowed, attach) {
    const old = $(id);
    const button = old.cloneNode(true);
    old.replaceWith(button);
    button.hidden = !allowed;
    button.disabled = false;
    attach(button);
  }

  formHandler(id, handler) {
    $(id).onsubmit = (event) => { event.preventDefault(); handler(event).catch(showError); };
  }

  start() {
    if (can("read")) {
      this.life.every(1000, () => this.refreshInfo());
      this.refreshCheckpoints().catch(showError);
      this.life.every(5000, () => this.refreshServices());
      this.life.every(3000, () => this.refreshUsage());
    } else {
      $("sprite-status").textContent = "(this token may not read the sprite's state)";
      $("sprite-status").className = "hint";
    }
  }

  // --- info and status

  async refreshInfo() {
    const info = await apiJSON("GET", spritePath(this.name), { signal: this.life.signal });
    this.polledStatus = info.status;
    this.showStatus();
    const rows = [
      ["URL", /^https?:\/\//.test(info.url || "")
        ? el("a", { href: info.url, target: "_blank", rel: "noopener", "data-testid": "sprite-url" }, info.url)
        : "none"],
      ["URL access", info.url_settings && info.url_settings.auth === "public" ? "public: anyone may open it" : "a token (or sign-in link) for this sprite"],
      ["Created", formatTime(info.created_at)],
      ["Environment", info.environment_version],
      ["Resources", `${info.config.cpus} CPUs · ${info.config.ram_mb} MB RAM · ${info.config.storage_gb} GB disk`],
      ["Disk used", `${formatBytes(info.storage_quota_used_bytes ?? info.storage_bytes)} of ${formatBytes(info.storage_quota_bytes)}`],
      ["Sleeps after", `${formatDuration(info.config.idle_timeout)} idle (cold after ${formatDuration(info.config.cold_timeout)})`],
      ["Last woke", info.last_running_at ? formatTime(info.last_running_at) : "–"],
    ];
    $("sprite-info").replaceChildren(...rows.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
  }

  showStatus() {
    const status = this.busyState || this.polledStatus;
    const badge = $("sprite-status");
    badge.textContent = status;
    badge.className = `status ${status}`;
  }

  async sleep() {
    await apiJSON("POST", spritePath(this.name, "/sleep"), { body: { state: "warm" } });
    this.closeTerminal("the sprite went to sleep");
    showInfo(`${this.name} is asleep.`);
    await this.refreshInfo();
  }

  async destroy() {
    this.life.stop(); // no more polls of a sprite that is going away
    await api("DELETE", spritePath(this.name));
    showInfo(`${this.name} was destroyed.`);
    location.hash = "#/";
  }

  // --- checkpoints

  async refreshCheckpoints() {
    const list = await apiJSON("GET", spritePath(this.name, "/checkpoints?includeAuto=true"), { signal: this.life.signal });
    const head = (list.find((c) => c.id === "Current") || {}).source_id;
    const rows = list.map((checkpoint) => {
      const isLive = checkpoint.id === "Current";
      const actions = el("td", { className: "actions" });
      if (!isLive && can("checkpoints")) {
        const restore = el("button", { "data-testid": `restore-${checkpoint.id}` }, "Restore");
        restore.addEventListener("click", () => busy(restore, () => this.restore(checkpoint.id)));
        actions.append(restore);
      }
      if (can("create")) {
        const fork = el("button", { "data-testid": `fork-${checkpoint.id}` }, "Fork…");
        fork.addEventListener("click", () => this.askFork(isLive ? null : checkpoint.id));
        actions.append(fork);
      }
      return el("tr", { className: checkpoint.id === head ? "current" : "", "data-checkpoint": checkpoint.id },
        el("td", {}, isLive ? "live disk" : checkpoint.id),
        el("td", {}, isLive ? "now" : formatTime(checkpoint.create_time)),
        el("td", {}, checkpoint.comment || ""),
        el("td", {}, checkpoint.source_id || ""),
        actions);
    });
    $("checkpoint-rows").replaceChildren(...rows);
  }

  /** Shows an NDJSON progress stream (checkpoint, restore) line by line; resolves when it ends. */
  async streamProgress(response) {
    const box = $("progress");
    let failure = null;
    await readLines(response, (line) => {
      const text = line.type === "error" ? `error: ${line.error || line.data}` : line.data;
      box.append(`${line.time ? new Date(line.time).toLocaleTimeString() + "  " : ""}${text}\n`);
      box.scrollTop = box.scrollHeight;
      if (line.type === "error") failure = line.error || line.data;
    });
    if (failure) throw new Error(failure);
  }

  startProgress(title) {
    const box = $("progress");
    box.hidden = false;
    box.dataset.state = "running";
    box.textContent = `${title}\n`;
  }

  endProgress(ok) {
    $("progress").dataset.state = ok ? "done" : "failed";
  }

  async takeCheckpoint(event) {
    const comment = $("checkpoint-comment").value.trim();
    const button = event.submitter || $("checkpoint-form").querySelector("button");
    await busy(button, async () => {
      this.startProgress(`Taking a checkpoint of ${this.name}…`);
      let ok = false;
      try {
        const response = await api("POST", spritePath(this.name, "/checkpoint"), { body: comment ? { comment } : {} });
        await this.streamProgress(response);
        ok = true;
        $("checkpoint-comment").value = "";
      } finally {
        this.endProgress(ok);
        await this.refreshCheckpoints();
      }
    });
  }

  async restore(id) {
    // A restore stops the sprite (its disk is swapped), and every shell in it ends.
    this.closeTerminal(`restoring ${id}: the sprite restarts`);
    this.startProgress(`Restoring ${this.name} to ${id}…`);
    this.busyState = "restoring";
    this.showStatus();
    let ok = false;
    try {
      const response = await api("POST", spritePath(this.name, `/checkpoints/${encodeURIComponent(id)}/restore`));
      await this.streamProgress(response);
      ok = true;
    } finally {
      this.busyState = "";
      this.endProgress(ok);
      await this.refreshCheckpoints();
      await this.refreshInfo();
    }
  }

  askFork(checkpoint) {
    this.forkFrom = checkpoint;
    $("fork-checkpoint").textContent = checkpoint ? `checkpoint ${checkpoint}` : "the live disk";
    $("fork-form").hidden = false;
    $("fork-name").focus();
  }

  async fork(event) {
    const name = $("fork-name").value.trim();
    const source = { sprite: this.name };
    if (this.forkFrom) source.checkpoint = this.forkFrom;
    await busy(event.submitter || $("fork-form").querySelector("button"), async () => {
      await apiJSON("POST", "/v1/sprites", { body: { name, source } });
      $("fork-form").hidden = true;
      $("fork-name").value = "";
      showInfo(`Forked ${this.name} at ${this.forkFrom || "its live disk"} as ${name}.`);
      location.hash = `#/sprite/${encodeURIComponent(name)}`;
    });
  }

  // --- services

  async refreshServices() {
    const services = await apiJSON("GET", spritePath(this.name, "/services"), { signal: this.life.signal });
    const rows = services.map((service) => {
      const logs = el("button", { "data-testid": `logs-${service.name}` }, "Logs");
      logs.addEventListener("click", () => busy(logs, () => this.showLogs(service.name)));
      const state = service.state || {};
      const status = state.status + (state.pid ? ` (pid ${state.pid})` : "") +
        (state.restart_count ? ` · ${state.restart_count} restarts` : "");
      return el("tr", { "data-service": service.name },
        el("td", {}, service.name), el("td", {}, status),
        el("td", {}, [service.cmd, ...(service.args || [])].join(" ")), el("td", { className: "actions" }, logs));
    });
    $("service-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 4, className: "hint" }, "no services"))]));
  }

  async showLogs(service) {
    const box = $("service-log");
    box.hidden = false;
    box.textContent = "";
    const response = await api("GET", spritePath(this.name, `/services/${encodeURIComponent(service)}/logs?lines=200`), { signal: this.life.signal });
    await readLines(response, (line) => {
      if (line.type === "stdout" || line.type === "stderr") box.append(line.data);
      else if (line.type !== "complete") box.append(`[${line.type}] ${line.data || ""}\n`);
    });
    if (!box.textContent) box.textContent = `(${service} has logged nothing yet)`;
  }

  // --- usage

  async refreshUsage() {
    const usage = await apiJSON("GET", spritePath(this.name, "/usage"), { signal: this.life.signal });
    this.cpu.add(usage.cpu_seconds, 100);
    drawChart($("sprite-chart"), this.cpu.points, "CPU %");
    $("sprite-totals").textContent = `CPU ${usage.cpu_seconds.toFixed(1)} s · memory ${formatBytes(usage.memory_average_bytes)} average, ` +
      `${formatBytes(usage.memory_peak_bytes)} peak · running ${formatDuration(usage.running_seconds)} · ` +
      `warm ${formatDuration(usage.warm_seconds)} · disk ${formatBytes(usage.disk_bytes)} · since ${formatTime(usage.since)}`;
  }

  // --- terminal: xterm attached to a TTY exec of a login shell

  openTerminal() {
    this.closeTerminal();
    const container = $("terminal");
    container.hidden = false; // before fitting: a hidden box has no size
    container.replaceChildren();
    // The DOM renderer keeps the rows as text in the page (readable by tests and screen readers).
    const term = new Terminal({ rendererType: "dom", cursorBlink: true, fontSize: 13, scrollback: 5000 });
    term.open(container);
    term.fit();
    window.hobTerm = term;

    const query = new URLSearchParams([["cmd", "/bin/bash"], ["cmd", "-l"], ["env", "TERM=xterm-256color"],
      ["tty", "true"], ["rows", String(term.rows)], ["cols", String(term.cols)]]);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${spritePath(this.name, "/exec")}?${query}`,
      ["hob.v1", `hob.token.${base64urlEncode(session.token)}`]);
    socket.binaryType = "arraybuffer";
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    const state = $("terminal-state");
    state.textContent = "connecting…";

    socket.onopen = () => { state.textContent = "connected"; term.focus(); };
    socket.onmessage = (message) => {
      if (typeof message.data !== "string") {
        term.write(decoder.decode(new Uint8Array(message.data), { stream: true }));
        return;
      }
      const event = JSON.parse(message.data);
      if (event.type === "session_info") state.textContent = `connected: session ${event.session_id}`;
      else if (event.type === "exit") state.textContent = `the shell exited with status ${event.exit_code}`;
    };
    socket.onclose = (close) => {
      if (this.terminal && this.terminal.socket === socket) {
        const why = close.code === 1000 ? "" : ` (${close.code}${close.reason ? ": " + close.reason : ""})`;
        this.closeTerminal(`disconnected${why}`);
      }
    };
    term.on("data", (data) => { if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data)); });
    term.on("resize", ({ rows, cols }) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "resize", rows, cols }));
    });
    const onWindowResize = () => term.fit();
    window.addEventListener("resize", onWindowResize);
    this.terminal = { term, socket, onWindowResize };
    $("terminal-connect").hidden = true;
    $("terminal-disconnect").hidden = false;
  }

  /** Ends the terminal's connection (the shell keeps running in its session) and says why. */
  closeTerminal(reason) {
    const terminal = this.terminal;
    if (!terminal) return;
    this.terminal = null;
    window.removeEventListener("resize", terminal.onWindowResize);
    if (terminal.socket.readyState <= WebSocket.OPEN) terminal.socket.close(1000);
    terminal.term.setOption("cursorBlink", false);
    if (reason) {
      terminal.term.write(`\r\n\x1b[2m[${reason}]\x1b[0m\r\n`);
      $("terminal-state").textContent = reason;
    }
    $("terminal-connect").hidden = !can("exec");
    $("terminal-disconnect").hidden = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Start

function start() {
  Terminal.applyAddon(fit);
  if (session.token) {
    try { session.scope = new Scope(session.token); } catch { logout(); }
  }
  $("login-form").addEventListener("submit", login);
  $("create-form").addEventListener("submit", createSprite);
  $("logout").addEventListener("click", () => { clearMessage(); logout(); });
  window.addEventListener("hashchange", () => {
    if (Date.now() - messageShownAt > 1000) clearMessage();
    route();
  });
  // Shown on the page too; it still reaches the console (the browser test fails on it).
  window.addEventListener("unhandledrejection", (event) => showError(event.reason));
  route();
}

start();
