// graphflow dashboard: one page over the REST API and its SSE streams.
//
// Rules this file keeps (see graphflow/api/dashboard/__init__.py):
// - the API key lives in sessionStorage and travels only in the Authorization header, never in a URL;
// - every text that comes from the server is inserted with textContent (the `h` helper), never as HTML;
// - streams are read with fetch() (EventSource cannot send headers), frames parsed here, and a dropped
//   stream resumes with the Last-Event-ID header;
// - no inline script anywhere (the Content-Security-Policy forbids it), no eval, no network but the API.

const SESSION = "graphflow.session";
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const RUN_STATUSES = ["pending", "running", "completed", "failed", "cancelled"];
const AUTOMATION_STATUSES = ["draft", "running", "paused", "completed", "failed"];
const TYPES = ["trigger", "scheduled", "invoked"];
const PAGE = 100; // the API's largest page
const RUNS_PAGE = 20;
const WINDOW = 200; // automations rows drawn at a time
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const ABSOLUTE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

let session = readSession();
let page = null; // the current page's AbortController: aborted when the route changes
let lastApp = ""; // the app id last typed in, offered again after a refusal

// -- small helpers ------------------------------------------------------------------------------

/** An element: props are attributes (strings), `class`, `text`, event handlers (`onclick`) or DOM properties. */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = String(value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "value" || name === "checked" || name === "disabled" || name === "selected") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function clear(el) {
  el.replaceChildren();
  return el;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/** `fn` called at most once per `ms`, with the latest arguments, after the calls stop. */
function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

function absolute(iso) {
  return iso ? ABSOLUTE.format(new Date(iso)) : "";
}

function relative(iso) {
  if (!iso) return "";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return RELATIVE.format(Math.round(seconds / size), unit);
  }
  return RELATIVE.format(Math.round(seconds), "second");
}

/** A time shown relative ("in 5 minutes") with the absolute local time beside it. */
function when(iso, empty = "—") {
  if (!iso) return h("span", { class: "muted", text: empty });
  return h("time", { datetime: iso, title: `${absolute(iso)} (${ZONE})` },
    h("span", { class: "rel", text: relative(iso) }), " ", h("small", { class: "abs", text: absolute(iso) }));
}

function duration(start, end) {
  if (!start) return "";
  const ms = (end ? new Date(end) : new Date()).getTime() - new Date(start).getTime();
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function badge(status) {
  const text = status || "none";
  return h("span", { class: `badge s-${text.replace(/[^a-z_]/g, "")}`, "data-status": text, text });
}

function json(value) {
  return h("pre", { class: "json", text: JSON.stringify(value, null, 2) ?? "null" });
}

function link(hash, text, label) {
  return h("a", { href: hash, text, "aria-label": label });
}

function runHash(id) { return `#/runs/${encodeURIComponent(id)}`; }
function automationHash(id) { return `#/automations/${encodeURIComponent(id)}`; }

function say(message, kind = "info", extra = null) {
  const status = clear(document.getElementById("status"));
  if (!message) return;
  append(status, [h("p", { class: `note ${kind}` }, message, extra ? [" ", extra] : [])]);
}

// -- the session and the API --------------------------------------------------------------------

function readSession() {
  try {
    const value = JSON.parse(sessionStorage.getItem(SESSION) || "null");
    return value && typeof value.app === "string" && typeof value.key === "string" ? value : null;
  } catch {
    return null;
  }
}

function signOut(message) {
  sessionStorage.removeItem(SESSION);
  session = null;
  page?.abort();
  if (location.hash !== "#/sign-in") history.replaceState(null, "", "#/sign-in");
  renderSignIn(message);
}

class ApiError extends Error {
  constructor(status, code, message, problems = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.problems = problems;
  }
}

function apiUrl(path) {
  return new URL(`v1/apps/${encodeURIComponent(session.app)}${path}`, document.baseURI);
}

async function failure(response) {
  let error = null;
  try {
    error = (await response.json()).error;
  } catch { /* not JSON: worded below */ }
  if (error && typeof error.message === "string") {
    const problems = Array.isArray(error.details?.problems) ? error.details.problems : [];
    return new ApiError(response.status, String(error.code), error.message, problems);
  }
  return new ApiError(response.status, "http_error", `The server answered ${response.status} ${response.statusText}.`);
}

/** One API call as the signed-in app: JSON in and out (or a Blob with `blob: true`). */
async function api(method, path, { body, signal, blob = false } = {}) {
  if (!session) throw new ApiError(401, "unauthorized", "Not signed in.");
  const headers = { Authorization: `Bearer ${session.key}`, Accept: blob ? "image/svg+xml" : "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(apiUrl(path), {
      method, headers, signal, cache: "no-store", credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(0, "unreachable", "The server could not be reached. Check the connection and try again.");
  }
  if (response.status === 401) {
    signOut("Your key was refused: it is wrong, expired or revoked. Sign in again.");
    throw new ApiError(401, "unauthorized", "signed out");
  }
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  return blob ? response.blob() : response.json();
}

/** Follow an SSE stream with the key in a header; resume with Last-Event-ID after a drop.
 *
 * `onOpen` is called when the server has answered (its starting point is fixed), `onEvent(type, data)`
 * for every frame; returns when `until(type)` is true, the signal aborts or the server refuses. A
 * stream that dropped before its first frame has no id to resume from: `onGap` is called instead
 * (the caller reloads what it shows). */
async function follow(path, { signal, onEvent, onOpen, onGap, until = () => false, lastId = null }) {
  let backoff = 500;
  let opened = false;
  while (!signal.aborted && session) {
    const headers = { Authorization: `Bearer ${session.key}`, Accept: "text/event-stream" };
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    let response;
    try {
      response = await fetch(apiUrl(path), { headers, signal, cache: "no-store", credentials: "same-origin" });
    } catch {
      if (signal.aborted) return;
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 10000);
      continue;
    }
    if (response.status === 401) { signOut("Your key was refused: it is wrong, expired or revoked. Sign in again."); return; }
    if (response.status >= 500 || response.status === 429 || response.status === 408) { // a restart, a busy proxy: try again
      response.body?.cancel().catch(() => {});
      if (opened) say("Live updates paused: the server did not answer; trying again…", "bad");
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 10000);
      continue;
    }
    if (!response.ok) {
      const error = await failure(response);
      if (onOpen) onOpen(error); else say(`Live updates stopped: ${readable(error)}`, "bad");
      return;
    }
    backoff = 500;
    if (opened && lastId === null && onGap) { response.body.cancel().catch(() => {}); onGap(); return; }
    opened = true;
    onOpen?.(null);
    onOpen = null;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let frame = { id: null, type: "message", data: [] };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, end).replace(/\r$/, "");
          buffer = buffer.slice(end + 1);
          if (line === "") {
            if (frame.id !== null) lastId = frame.id;
            if (frame.data.length) {
              let data = null;
              try { data = JSON.parse(frame.data.join("\n")); } catch { data = null; }
              onEvent(frame.type, data);
              if (until(frame.type)) { reader.cancel().catch(() => {}); return; }
            }
            frame = { id: null, type: "message", data: [] };
          } else if (!line.startsWith(":")) {
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (field === "id") frame.id = text;
            else if (field === "event") frame.type = text;
            else if (field === "data") frame.data.push(text);
          }
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    await sleep(backoff, signal); // the stream dropped (or the server closed it): resume after lastId
  }
}

/** A stream of the app's events, resolved once connected so that what is loaded next misses nothing. */
function appStream(types, onEvent, signal) {
  return new Promise((resolve) => {
    const onGap = () => { if (!signal.aborted) route(); }; // events may have been missed: draw the page again
    follow(`/stream?types=${types.join(",")}`, { signal, onEvent, onOpen: resolve, onGap }).finally(() => resolve(null));
    setTimeout(() => resolve(null), 3000); // a slow stream never holds the page back
  });
}

/** An <img> of an SVG picture fetched with the key (a blob: URL, so the key is never in a URL). */
async function picture(path, alt, signal) {
  const holder = h("figure", { class: "picture" });
  try {
    const blob = await api("GET", path, { signal, blob: true });
    const url = URL.createObjectURL(blob);
    const img = h("img", { src: url, alt, class: "graph" });
    img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
    append(holder, [img]);
  } catch (error) {
    if (signal.aborted) return holder;
    append(holder, [h("p", { class: "error", text: `The picture could not be drawn: ${error.message}` })]);
  }
  return holder;
}

/** An error in words: its problems (each with its hint) when it lists them, else its message. */
function readable(error) {
  if (!error.problems?.length) return error.message;
  return error.problems.map((p) => (p.hint ? `${p.message} (${p.hint})` : p.message)).join("; ");
}

/** Redraw `el`'s content with `draw()`, keeping the keyboard focus on the control it was on. */
function redraw(el, draw) {
  const key = el.contains(document.activeElement) ? document.activeElement.dataset.focus : undefined;
  draw();
  if (key) el.querySelector(`[data-focus="${key}"]`)?.focus();
}

function errorBox(error) {
  return h("div", { class: "error", role: "alert" }, h("p", { text: error.message }),
    error.problems?.length ? h("ul", {}, error.problems.map((p) => h("li", { text: `${p.path}: ${p.message}${p.hint ? ` (${p.hint})` : ""}` }))) : null);
}

// -- routing ------------------------------------------------------------------------------------

const ROUTES = [
  [/^#\/automations\/([^/]+)$/, (m) => renderAutomation(decoded(m[1]))],
  [/^#\/runs\/([^/]+)$/, (m) => renderRun(decoded(m[1]))],
  [/^#\/events$/, () => renderEvents()],
  [/^#\/steering$/, () => renderSteering()],
  [/^#\/automations$/, () => renderAutomations()],
];

/** A path segment of the hash, decoded; a malformed escape is kept as written (the API answers "not found"). */
function decoded(segment) {
  try { return decodeURIComponent(segment); } catch { return segment; }
}

function route() {
  page?.abort();
  page = new AbortController();
  say("");
  const signedIn = session !== null;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("sign-out").hidden = !signedIn;
  const who = document.getElementById("who");
  who.hidden = !signedIn;
  who.textContent = signedIn ? `app ${session.app}` : "";
  if (!signedIn) { renderSignIn(); return; }
  const hash = location.hash || "#/automations";
  for (const a of document.querySelectorAll("#nav a")) {
    const current = hash.startsWith(`#/${a.dataset.page}`) || (a.dataset.page === "automations" && hash.startsWith("#/runs"));
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  for (const [pattern, render] of ROUTES) {
    const match = hash.match(pattern);
    if (match) { render(match); return; }
  }
  location.replace("#/automations");
}

function main(title, ...children) {
  const el = clear(document.getElementById("main"));
  document.title = `${title} · graphflow`;
  append(el, [h("h1", { text: title }), ...children]);
  return el;
}

// -- sign in ------------------------------------------------------------------------------------

function renderSignIn(message = "") {
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("who").hidden = true;
  const error = h("p", { id: "sign-in-error", class: "error", role: "alert", text: message, hidden: !message });
  const app = h("input", { id: "app", name: "app", required: true, autocomplete: "username", spellcheck: "false", value: lastApp });
  const key = h("input", { id: "key", name: "key", type: "password", required: true, autocomplete: "current-password" });
  const form = h("form", { class: "card sign-in", "aria-describedby": "sign-in-error" },
    h("p", { text: "Sign in with an app id and one of its API keys (graphflow keys create --app APP). The key stays in this tab only." }),
    h("label", { for: "app", text: "App id" }), app,
    h("label", { for: "key", text: "API key" }), key,
    error,
    h("button", { type: "submit", text: "Sign in" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    lastApp = app.value.trim();
    session = { app: lastApp, key: key.value.trim() };
    try {
      await api("GET", "/automations?limit=1");
    } catch (failure_) {
      if (failure_.status === 401) return; // signOut has shown the message
      session = null;
      error.hidden = false;
      error.textContent = failure_.status === 404
        ? `This key does not belong to app "${app.value.trim()}".` : failure_.message;
      return;
    }
    sessionStorage.setItem(SESSION, JSON.stringify(session));
    if (!location.hash || location.hash === "#/sign-in") history.replaceState(null, "", "#/automations");
    route(); // where the viewer was going (a shared #/runs/… link), or the automations
  });
  main("Sign in", form);
  (lastApp ? key : app).focus();
}

// -- automations --------------------------------------------------------------------------------

const AUTOMATION_EVENTS = ["automation.created", "automation.updated", "automation.activated", "automation.paused",
  "automation.reset", "automation.deleted", "run.created", "run.started", "run.waiting", "run.completed", "run.failed",
  "run.cancelled"];

/** Mark a control busy (a request in flight) without disabling it: a disabled control drops the keyboard focus. */
function busy(control, on) {
  if (on) control.setAttribute("aria-disabled", "true"); else control.removeAttribute("aria-disabled");
}

/** The enabled switch of an automation: activate or pause; a refusal is shown in `message`. */
function enabledSwitch(automation, message, onChange) {
  const input = h("input", { type: "checkbox", role: "switch", checked: automation.enabled,
    "aria-label": `Enabled: ${automation.name}`, class: "switch", "data-focus": "enabled" });
  input.addEventListener("change", async () => {
    const want = input.checked;
    if (input.getAttribute("aria-disabled") === "true") { input.checked = !want; return; }
    busy(input, true); // not `disabled`: a disabled control loses the keyboard focus
    message.textContent = "";
    try {
      const action = want ? "activate" : "pause";
      const changed = await api("POST", `/automations/${encodeURIComponent(automation.id)}/${action}`, { body: {} });
      onChange(changed);
    } catch (error) {
      input.checked = !want;
      message.textContent = `${want ? "Could not activate" : "Could not pause"}: ${readable(error)}`;
    } finally {
      busy(input, false);
    }
  });
  return input;
}

function runNowButton(automation, signal) {
  return h("button", {
    type: "button", class: "small", text: "Run now", "aria-label": `Run ${automation.name} now`, "data-focus": "run-now",
    onclick: async (event) => {
      const button = event.currentTarget;
      if (button.getAttribute("aria-disabled") === "true") return;
      busy(button, true);
      try {
        const { run_id: runId } = await api("POST", `/automations/${encodeURIComponent(automation.id)}/trigger`, { body: {}, signal });
        say(`Run ${runId} of "${automation.name}" started.`, "ok", link(runHash(runId), "Open the run"));
      } catch (error) {
        if (!signal.aborted) say(`Could not run "${automation.name}": ${readable(error)}`, "bad");
      } finally {
        busy(button, false);
      }
    },
  });
}

function whatStartsIt(a) {
  if (a.type === "scheduled") return a.schedule_display || a.schedule || "";
  if (a.type === "trigger") return a.trigger || "";
  return "invoked by a call";
}

async function renderAutomations() {
  const { signal } = page;
  const search = h("input", { id: "search", type: "search", placeholder: "name contains…" });
  const type = h("select", { id: "type-filter" }, h("option", { value: "", text: "all" }), TYPES.map((t) => h("option", { value: t, text: t })));
  const status = h("select", { id: "status-filter" }, h("option", { value: "", text: "all" }),
    AUTOMATION_STATUSES.map((s) => h("option", { value: s, text: s })));
  const count = h("p", { id: "count", class: "muted", "aria-live": "polite" });
  const body = h("tbody");
  const table = h("table", { id: "automations", class: "rows" },
    h("caption", { class: "sr-only", text: `Automations (times in ${ZONE})` }),
    h("thead", {}, h("tr", {}, ["Name", "Type", "Trigger or schedule", "Status", "Enabled", "Next run", "Last run", "Actions"]
      .map((c) => h("th", { scope: "col", text: c })))),
    body);
  main("Automations",
    h("div", { class: "filters" },
      h("div", {}, h("label", { for: "search", text: "Search by name" }), search),
      h("div", {}, h("label", { for: "type-filter", text: "Type" }), type),
      h("div", {}, h("label", { for: "status-filter", text: "Status" }), status)),
    count, h("div", { class: "scroll" }, table));

  const automations = new Map(); // id → automation, newest first
  const rows = new Map(); // id → <tr>

  function row(a) {
    const message = h("div", { class: "row-error", role: "alert" });
    const tr = h("tr", { "data-id": a.id },
      h("td", { "data-label": "Name" }, link(automationHash(a.id), a.name), message),
      h("td", { "data-label": "Type", text: a.type }),
      h("td", { "data-label": "Trigger or schedule", text: whatStartsIt(a) }),
      h("td", { "data-label": "Status" }, badge(a.status)),
      h("td", { "data-label": "Enabled" }, enabledSwitch(a, message, (changed) => update(changed))),
      h("td", { "data-label": "Next run" }, when(a.next_run_at)),
      h("td", { "data-label": "Last run" }, a.last_run_status ? badge(a.last_run_status) : null, " ", when(a.last_run_at, a.last_run_status ? "" : "never")),
      h("td", { "data-label": "Actions" }, runNowButton(a, signal)));
    rows.set(a.id, tr);
    return tr;
  }

  function visible(a) {
    const text = search.value.trim().toLowerCase();
    return (!type.value || a.type === type.value) && (!status.value || a.status === status.value)
      && (!text || a.name.toLowerCase().includes(text));
  }

  // The rows drawn are the first `limit` matches; scrolling to the end (or the button) draws more.
  // Drawing and laying out 1,000 rows at once costs more than everything else on the page.
  let limit = WINDOW;
  const moreButton = h("button", { type: "button", class: "small", onclick: () => { limit += WINDOW; show(); } });
  const moreRow = h("tr", { class: "more" }, h("td", { colspan: "8" }, moreButton));
  const nearEnd = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) { limit += WINDOW; show(); }
  }, { rootMargin: "400px" });
  signal.addEventListener("abort", () => nearEnd.disconnect());

  function show() {
    const fragment = document.createDocumentFragment();
    let matching = 0;
    for (const a of automations.values()) {
      if (!visible(a)) continue;
      matching += 1;
      if (matching <= limit) fragment.append(rows.get(a.id) || row(a));
    }
    nearEnd.disconnect();
    if (matching > limit) {
      moreButton.textContent = `Show ${Math.min(WINDOW, matching - limit)} more (${matching - limit} not shown)`;
      fragment.append(moreRow);
    }
    body.replaceChildren(fragment);
    if (matching > limit) nearEnd.observe(moreRow);
    const total = `${automations.size} automation${automations.size === 1 ? "" : "s"}`;
    count.textContent = matching === automations.size ? total : `${matching} of ${total}`;
  }

  function update(a) {
    const old = rows.get(a.id);
    if (old && JSON.stringify(automations.get(a.id)) === JSON.stringify(a)) return; // nothing new to draw
    if (!automations.has(a.id)) {
      const rest = [...automations];
      automations.clear();
      automations.set(a.id, a);
      for (const [id, value] of rest) automations.set(id, value);
    } else {
      automations.set(a.id, a);
    }
    rows.delete(a.id);
    const fresh = row(a);
    if (old?.isConnected && visible(a)) {
      const key = old.contains(document.activeElement) ? document.activeElement.dataset.focus : undefined;
      old.replaceWith(fresh);
      if (key) fresh.querySelector(`[data-focus="${key}"]`)?.focus(); // a live update never steals the focus
      const message = old.querySelector(".row-error");
      if (message?.textContent) fresh.querySelector(".row-error").textContent = message.textContent;
    } else {
      show();
    }
  }

  const refresh = new Map();
  async function reload(id) {
    try {
      update(await api("GET", `/automations/${encodeURIComponent(id)}`, { signal }));
    } catch (error) {
      if (error.status === 404) { automations.delete(id); rows.delete(id); show(); }
    }
  }
  function onEvent(kind, event) {
    const id = event?.automation_id;
    if (!id) return;
    if (!refresh.has(id)) refresh.set(id, debounce(() => reload(id), 100));
    refresh.get(id)();
  }

  for (const control of [search, type, status]) control.addEventListener("input", () => { limit = WINDOW; show(); });
  await appStream(AUTOMATION_EVENTS, onEvent, signal);
  if (signal.aborted) return;
  try {
    // The first page is shown at once; the rest (the API pages at 100, by cursor, so one after the
    // other) is drawn in one go at the end: redrawing a growing table after every page costs more
    // than the requests themselves.
    let cursor = null;
    let pages = 0;
    do {
      const query = `/automations?limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const result = await api("GET", query, { signal });
      for (const a of result.data) if (!automations.has(a.id)) automations.set(a.id, a);
      cursor = result.next_cursor;
      pages += 1;
      if (pages === 1) { show(); performance.mark("graphflow:first-rows"); }
    } while (cursor && !signal.aborted);
    if (pages > 1) show();
  } catch (error) {
    if (!signal.aborted) append(document.getElementById("main"), [errorBox(error)]);
    return;
  }
  if (automations.size === 0) count.textContent = "No automations yet: create one with the API or 'graphflow create automation'.";
  // Interactive once the rows are laid out and painted: the next frame, then the task after it.
  requestAnimationFrame(() => setTimeout(() => {
    performance.mark("graphflow:automations-ready"); // benchmarks/dashboard.py reads it
    document.body.dataset.ready = "automations";
  }));
}

// -- one automation -----------------------------------------------------------------------------

function field(label, value) {
  return [h("dt", { text: label }), h("dd", {}, value instanceof Node ? value : String(value ?? "—"))];
}

function editForm(a, onSaved) {
  const errors = {};
  const inputs = {};
  const form = h("form", { class: "card edit", novalidate: true, "aria-labelledby": "edit-title" }, h("h2", { id: "edit-title", text: "Edit" }));
  const add = (name, label, input) => {
    errors[name] = h("p", { id: `error-${name}`, class: "field-error", role: "alert" });
    inputs[name] = input;
    input.setAttribute("aria-describedby", `error-${name}`);
    append(form, [h("div", { class: "field" }, h("label", { for: `edit-${name}`, text: label }), input, errors[name])]);
  };
  add("name", "Name", h("input", { id: "edit-name", value: a.name, maxlength: "200" }));
  if (a.type === "scheduled") {
    add("schedule", "Schedule", h("input", { id: "edit-schedule", value: a.schedule || "", spellcheck: "false" }));
  }
  add("enabled", "Enabled", h("input", { id: "edit-enabled", type: "checkbox", role: "switch", class: "switch", checked: a.enabled }));
  const general = h("div", { class: "form-error", role: "alert" });
  const saved = h("p", { class: "ok", role: "status" });
  append(form, [general, h("button", { type: "submit", text: "Save" }), saved]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const [name, el] of Object.entries(errors)) { el.textContent = ""; inputs[name].removeAttribute("aria-invalid"); }
    clear(general);
    saved.textContent = "";
    const changes = {};
    if (inputs.name.value !== a.name) changes.name = inputs.name.value;
    if (inputs.schedule && inputs.schedule.value !== (a.schedule || "")) changes.schedule = inputs.schedule.value;
    if (inputs.enabled.checked !== a.enabled) changes.enabled = inputs.enabled.checked;
    if (!Object.keys(changes).length) { saved.textContent = "Nothing to save."; return; }
    try {
      const changed = await api("PATCH", `/automations/${encodeURIComponent(a.id)}`, { body: changes });
      saved.textContent = "Saved.";
      onSaved(changed);
    } catch (error) {
      let placed = false;
      for (const problem of error.problems || []) {
        const name = String(problem.path || "").replace(/^\$\./, "").split(/[.[]/)[0];
        if (errors[name]) {
          errors[name].textContent = problem.hint ? `${problem.message} (${problem.hint})` : problem.message;
          inputs[name].setAttribute("aria-invalid", "true");
          placed = true;
        }
      }
      if (!placed) append(general, [errorBox(error)]);
    }
  });
  return form;
}

async function renderAutomation(id) {
  const { signal } = page;
  const details = h("section", { class: "card", "aria-labelledby": "details-title" });
  const configBox = h("section", { class: "card", "aria-labelledby": "config-title" });
  const editBox = h("div");
  const runsBox = h("section", { class: "card", "aria-labelledby": "runs-title" });
  const el = main("Automation", details, editBox, runsBox, configBox);
  let automation = null;

  function showDetails(a, { form = false } = {}) {
    if (!form && automation && JSON.stringify(automation) === JSON.stringify(a)) return;
    automation = a;
    el.querySelector("h1").textContent = a.name;
    document.title = `${a.name} · graphflow`;
    const message = h("div", { class: "row-error", role: "alert" });
    redraw(details, () => replaceDetails(a, message));
    if (form) { // the edit form is drawn on load and after a save, never under the viewer's typing
      clear(editBox);
      append(editBox, [editForm(a, (changed) => showDetails(changed, { form: true }))]);
    }
  }

  function replaceDetails(a, message) {
    clear(details);
    append(details, [
      h("h2", { id: "details-title", text: "Details" }),
      h("div", { class: "actions" },
        h("label", { class: "inline" }, enabledSwitch(a, message, (changed) => { showDetails({ ...a, ...changed }); }), " Enabled"),
        runNowButton(a, signal)),
      message,
      h("dl", { class: "fields" },
        field("Id", a.id), field("Type", a.type), field("Status", badge(a.status)),
        a.type === "scheduled" ? field("Schedule", `${a.schedule_display || ""} (${a.schedule || ""}, ${a.timezone})`) : null,
        a.type === "trigger" ? field("Trigger", a.trigger) : null,
        field("Next run", when(a.next_run_at)),
        field("Last run", h("span", {}, a.last_run_status ? badge(a.last_run_status) : null, " ", when(a.last_run_at, "never"))),
        a.last_error ? field("Last error", h("span", { class: "error-text", text: a.last_error })) : null,
        a.paused_reason ? field("Paused because", a.paused_reason) : null,
        a.description ? field("Description", a.description) : null,
        field("Config", a.config_id || "none"),
        field("Overlap", a.overlap), field("Created", when(a.created_at)), field("Updated", when(a.updated_at))),
    ]);
  }

  // runs: newest first, a status filter and cursor paging (a stack of the cursors of the pages before)
  const statusFilter = h("select", { id: "run-status" }, h("option", { value: "", text: "all" }),
    RUN_STATUSES.map((s) => h("option", { value: s, text: s })));
  const runRows = h("tbody");
  const newer = h("button", { type: "button", text: "Newer", class: "small" });
  const older = h("button", { type: "button", text: "Older", class: "small" });
  const runsError = h("div");
  const cursors = [null];
  let next = null;
  append(runsBox, [
    h("h2", { id: "runs-title", text: "Runs" }),
    h("div", { class: "filters" }, h("div", {}, h("label", { for: "run-status", text: "Status" }), statusFilter)),
    h("div", { class: "scroll" }, h("table", { id: "runs", class: "rows" },
      h("caption", { class: "sr-only", text: "Runs, newest first" }),
      h("thead", {}, h("tr", {}, ["Run", "Status", "Created", "Started", "Duration"].map((c) => h("th", { scope: "col", text: c })))),
      runRows)),
    runsError,
    h("div", { class: "pager" }, newer, older),
  ]);

  async function loadRuns() {
    const cursor = cursors[cursors.length - 1];
    const query = new URLSearchParams({ limit: String(RUNS_PAGE) });
    if (statusFilter.value) query.set("status", statusFilter.value);
    if (cursor) query.set("cursor", cursor);
    try {
      const result = await api("GET", `/automations/${encodeURIComponent(id)}/runs?${query}`, { signal });
      clear(runsError);
      next = result.next_cursor;
      runRows.replaceChildren(...result.data.map((r) => h("tr", { "data-id": r.id },
        h("td", { "data-label": "Run" }, link(runHash(r.id), r.id)),
        h("td", { "data-label": "Status" }, badge(r.status)),
        h("td", { "data-label": "Created" }, when(r.created_at)),
        h("td", { "data-label": "Started" }, when(r.started_at, "not yet")),
        h("td", { "data-label": "Duration", text: duration(r.started_at, r.finished_at) }))));
      if (!result.data.length) runRows.replaceChildren(h("tr", {}, h("td", { colspan: "5", class: "muted", text: "No runs." })));
      newer.disabled = cursors.length === 1;
      older.disabled = !next;
    } catch (error) {
      if (!signal.aborted) runsError.replaceChildren(errorBox(error));
    }
  }
  statusFilter.addEventListener("change", () => { cursors.length = 1; loadRuns(); });
  newer.addEventListener("click", () => { if (cursors.length > 1) { cursors.pop(); loadRuns(); } });
  older.addEventListener("click", () => { if (next) { cursors.push(next); loadRuns(); } });

  const reloadRuns = debounce(() => { if (cursors.length === 1) loadRuns(); }, 100);
  const reloadDetails = debounce(async () => {
    try { showDetails(await api("GET", `/automations/${encodeURIComponent(id)}`, { signal })); } catch { /* shown on the next load */ }
  }, 100);
  await appStream(AUTOMATION_EVENTS, (kind, event) => {
    if (event?.automation_id !== id) return;
    if (kind.startsWith("run.")) reloadRuns();
    if (kind.startsWith("automation.") || TERMINAL.has(kind.slice(4))) reloadDetails();
  }, signal);
  if (signal.aborted) return;

  try {
    showDetails(await api("GET", `/automations/${encodeURIComponent(id)}`, { signal }), { form: true });
  } catch (error) {
    if (!signal.aborted) main("Automation", errorBox(error), h("p", {}, link("#/automations", "Back to the automations")));
    return;
  }
  await loadRuns();
  if (automation.config_id) {
    try {
      const config = await api("GET", `/configs/${encodeURIComponent(automation.config_id)}`, { signal });
      append(configBox, [
        h("h2", { id: "config-title", text: "Config" }),
        h("dl", { class: "fields" }, field("Name", config.name), field("Id", config.id), field("Version", config.version),
          field("Updated", when(config.updated_at))),
        await picture(`/configs/${encodeURIComponent(config.id)}/svg?version=${config.version}`,
          `The graph of ${config.name}, version ${config.version}`, signal),
      ]);
    } catch (error) {
      if (!signal.aborted) append(configBox, [h("h2", { id: "config-title", text: "Config" }), errorBox(error)]);
    }
  } else {
    append(configBox, [h("h2", { id: "config-title", text: "Config" }), h("p", { class: "muted", text: "No config." })]);
  }
  document.body.dataset.ready = "automation";
}

// -- one run ------------------------------------------------------------------------------------

function timeline(journal) {
  if (!journal?.length) return h("p", { class: "muted", text: "No journal yet." });
  return h("ol", { class: "timeline", id: "journal" }, journal.map((entry) => h("li", { class: `j-${String(entry.type).replace(/[^a-z_]/g, "")}` },
    h("time", { datetime: entry.at, text: absolute(entry.at) }), " ",
    h("span", { class: "jtype", text: String(entry.type).replace("node_", "") }), " ",
    h("code", { text: entry.node_id }),
    entry.scope ? h("span", { class: "muted", text: ` in ${entry.scope}` }) : null,
    entry.attempt > 1 ? h("span", { class: "muted", text: ` attempt ${entry.attempt}` }) : null,
    entry.error ? h("div", { class: "error-text", text: `${entry.code ? `${entry.code}: ` : ""}${entry.error}${entry.will_retry ? " (will retry)" : ""}` }) : null)));
}

async function renderRun(id) {
  const { signal } = page;
  const head = h("section", { class: "card", "aria-labelledby": "run-title" });
  const steer = h("section", { id: "run-steering", "aria-labelledby": "steer-title", hidden: true });
  const outcome = h("section", { class: "card", "aria-labelledby": "outcome-title" });
  const journalBox = h("section", { class: "card", "aria-labelledby": "journal-title" });
  const graphBox = h("section", { class: "card", "aria-labelledby": "graph-title" });
  const el = main("Run", head, steer, outcome, journalBox, graphBox);
  let shownPictureFor = null;
  let shownRequest = null; // the steering request whose card is shown
  let nodeEvents = 0; // checkpointed nodes seen on the stream: the path picture is drawn again

  async function load() {
    let run;
    try {
      run = await api("GET", `/automations/runs/${encodeURIComponent(id)}`, { signal });
    } catch (error) {
      if (!signal.aborted) main("Run", errorBox(error), h("p", {}, link("#/automations", "Back to the automations")));
      return null;
    }
    el.querySelector("h1").textContent = `Run ${run.id}`;
    clear(head);
    append(head, [
      h("h2", { id: "run-title", text: "Status" }),
      h("p", { id: "run-status", class: "big", "aria-live": "polite" }, badge(run.status), TERMINAL.has(run.status) ? null : h("span", { class: "muted", text: " live" })),
      h("dl", { class: "fields" },
        field("Automation", link(automationHash(run.automation_id), run.automation_id)),
        field("Trigger", run.trigger),
        field("Config", run.config_id ? `${run.config_id} (version ${run.config_version ?? "not pinned yet"})` : "none"),
        field("Created", when(run.created_at)),
        run.scheduled_at ? field("Scheduled for", when(run.scheduled_at)) : null,
        field("Started", when(run.started_at, "not yet")),
        field("Finished", when(run.finished_at, "not yet")),
        field("Duration", duration(run.started_at, run.finished_at) || "—"),
        run.waiting_for ? field("Waiting for", h("code", { text: JSON.stringify(run.waiting_for) })) : null),
    ]);
    const waiting = run.waiting_for;
    if (waiting?.kind === "steering" && waiting.steering_request_id === shownRequest) {
      // the card on screen is this request's: left alone, with whatever note is being typed
    } else if (waiting?.kind === "steering" && waiting.steering_request_id) {
      shownRequest = waiting.steering_request_id;
      try {
        const request = await api("GET", `/steering_requests/${encodeURIComponent(waiting.steering_request_id)}`, { signal });
        steer.replaceChildren(h("h2", { id: "steer-title", text: "Waiting for a decision" }),
          steeringCard(request, { signal, onAnswered: () => load() }));
        steer.hidden = false;
      } catch (error) {
        if (!signal.aborted) { steer.replaceChildren(errorBox(error)); steer.hidden = false; }
      }
    } else {
      shownRequest = null;
      steer.replaceChildren();
      steer.hidden = true;
    }
    clear(outcome);
    const error = run.result && "error" in run.result ? run.result.error : null;
    append(outcome, [
      h("h2", { id: "outcome-title", text: "Payload and result" }),
      h("h3", { text: "Trigger payload" }), h("div", { id: "run-payload" }, json(run.payload)),
      error !== null ? [h("h3", { text: "Error" }), h("pre", { id: "run-error", class: "error-text", role: "alert", text: typeof error === "string" ? error : JSON.stringify(error, null, 2) })]
        : run.result ? [h("h3", { text: "Result" }), h("div", { id: "run-result" }, json(run.result))]
          : h("p", { class: "muted", text: "No result yet." }),
    ]);
    clear(journalBox);
    append(journalBox, [h("h2", { id: "journal-title", text: "Journal" }), timeline(run.journal)]);
    const pictureKey = `${run.status}:${run.journal?.length ?? 0}:${nodeEvents}`;
    if (pictureKey !== shownPictureFor && run.config_id) {
      shownPictureFor = pictureKey;
      const figure = await picture(`/automations/runs/${encodeURIComponent(run.id)}/svg`,
        `The graph of run ${run.id}, its path highlighted: completed, failed, running and skipped nodes`, signal);
      clear(graphBox);
      append(graphBox, [h("h2", { id: "graph-title", text: "Path" }), figure]);
    }
    return run;
  }

  const run = await load();
  if (!run || signal.aborted) return;
  document.body.dataset.ready = "run";
  if (TERMINAL.has(run.status)) return;
  const refresh = debounce(load, 100);
  await follow(`/automations/runs/${encodeURIComponent(id)}/stream`, {
    signal,
    onEvent: (kind) => { if (kind === "run.node_completed") nodeEvents += 1; refresh(); },
    until: (kind) => TERMINAL.has(kind.slice(4)),
  });
  if (!signal.aborted) await load();
}

// -- events -------------------------------------------------------------------------------------

async function renderEvents() {
  const { signal } = page;
  const list = h("div", { id: "catalogue" });
  const name = h("select", { id: "event-name", required: true });
  const payload = h("textarea", { id: "event-payload", rows: "6", spellcheck: "false", value: "{}" });
  const result = h("div", { id: "publish-result", "aria-live": "polite" });
  const explain = h("button", { type: "button", text: "Explain" });
  const publish = h("button", { type: "submit", text: "Publish", disabled: true });
  const form = h("form", { class: "card", "aria-labelledby": "publish-title" },
    h("h2", { id: "publish-title", text: "Publish a test event" }),
    h("p", { class: "muted", text: "Explain shows which automations the event would start; Publish sends it." }),
    h("div", { class: "field" }, h("label", { for: "event-name", text: "Event" }), name),
    h("div", { class: "field" }, h("label", { for: "event-payload", text: "Payload (JSON)" }), payload),
    h("div", { class: "actions" }, explain, publish), result);
  main("Events", form, h("section", { "aria-labelledby": "catalogue-title" }, h("h2", { id: "catalogue-title", text: "Catalogue" }), list));

  let explained = null; // the name and payload text the explanation is for
  const reset = () => { explained = null; publish.disabled = true; };
  name.addEventListener("change", reset);
  payload.addEventListener("input", reset);

  function parsed() {
    try {
      return JSON.parse(payload.value || "null");
    } catch (error) {
      result.replaceChildren(h("p", { class: "error", role: "alert", text: `The payload is not valid JSON: ${error.message}` }));
      return undefined;
    }
  }

  explain.addEventListener("click", async () => {
    const body = parsed();
    if (body === undefined) return;
    try {
      const answer = await api("POST", "/events/explain", { body: { name: name.value, payload: body }, signal });
      explained = `${name.value}\n${payload.value}`;
      publish.disabled = false;
      result.replaceChildren(h("p", { text: answer.data.length ? `It would start ${answer.data.length} automation(s):` : "It would start no automation." }),
        h("ul", { id: "would-start" }, answer.data.map((a) => h("li", {}, link(automationHash(a.id), a.name)))));
    } catch (error) {
      if (!signal.aborted) result.replaceChildren(errorBox(error));
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = parsed();
    if (body === undefined || explained !== `${name.value}\n${payload.value}`) return;
    try {
      const answer = await api("POST", "/events", { body: { name: name.value, payload: body }, signal });
      result.replaceChildren(h("p", { class: "ok", text: answer.duplicate ? "A duplicate: nothing started." : `Published: ${answer.run_ids.length} run(s) started.` }),
        h("ul", {}, answer.run_ids.map((runId) => h("li", {}, link(runHash(runId), runId)))));
      reset();
    } catch (error) {
      if (!signal.aborted) result.replaceChildren(errorBox(error));
    }
  });

  try {
    const catalogue = await api("GET", "/events/catalogue", { signal });
    for (const e of catalogue.data) name.append(h("option", { value: e.name, text: e.name }));
    list.replaceChildren(...catalogue.data.map((e) => h("article", { class: "card event" },
      h("h3", {}, h("code", { text: e.name }), " ", h("span", { class: "muted", text: e.category })),
      h("p", { text: e.description }),
      h("details", {}, h("summary", { text: "Payload schema" }), json(e.schema)))));
  } catch (error) {
    if (!signal.aborted) list.replaceChildren(errorBox(error));
  }
  document.body.dataset.ready = "events";
}

// -- steering -----------------------------------------------------------------------------------

const STEERING_EVENTS = ["steering.requested", "steering.answered", "steering.expired", "steering.cancelled"];
const STEERING_STATUSES = ["pending", "answered", "expired", "cancelled"];
const ANSWER_AS = "graphflow.answer-as";

/** One steering request: what it asks, where it comes from, and (while pending) a button per choice. */
function steeringCard(r, { signal, onAnswered }) {
  const problem = h("p", { class: "row-error", role: "alert" });
  const noteId = `note-${r.id}`;
  const note = h("input", { id: noteId, maxlength: "2000" });
  const pending = r.status === "pending";
  const choices = Array.isArray(r.choices) && r.choices.length ? r.choices : ["approve", "reject"];
  return h("article", { class: "card steering", "data-id": r.id, "data-status": r.status },
    h("p", { class: "message", text: r.message ?? "" }),
    h("dl", { class: "fields" },
      field("Status", badge(r.status)),
      field("Run", link(runHash(r.run_id), r.run_id)),
      field("Automation", link(automationHash(r.automation_id), r.automation_id)),
      field("Node", h("code", { text: r.node_id })),
      field("Asked", when(r.created_at)),
      r.expires_at ? field("Expires", when(r.expires_at)) : null,
      r.assignees ? field("Who may answer", r.assignees.join(", ")) : null,
      r.choice ? field("Answer", `${r.choice}${r.answered_by ? ` by ${r.answered_by}` : ""}${r.note ? `: ${r.note}` : ""}`) : null),
    pending ? h("div", { class: "field" }, h("label", { for: noteId, text: "Note (optional)" }), note) : null,
    pending ? h("div", { class: "actions" }, choices.map((choice) => h("button", {
      type: "button", text: String(choice), "aria-label": `${choice}: ${r.message ?? r.id}`,
      onclick: async (event) => {
        const button = event.currentTarget;
        if (button.getAttribute("aria-disabled") === "true") return;
        busy(button, true);
        problem.textContent = "";
        const body = { choice };
        if (note.value.trim()) body.note = note.value.trim();
        const by = sessionStorage.getItem(ANSWER_AS);
        if (by) body.by = by;
        try {
          onAnswered(await api("POST", `/steering_requests/${encodeURIComponent(r.id)}`, { body, signal }));
        } catch (error) {
          if (!signal.aborted) problem.textContent = readable(error);
        } finally {
          busy(button, false);
        }
      },
    }))) : null,
    problem);
}

async function renderSteering() {
  const { signal } = page;
  const status = h("select", { id: "steering-status" },
    STEERING_STATUSES.map((s) => h("option", { value: s, text: s })), h("option", { value: "", text: "all" }));
  const answerAs = h("input", { id: "answer-as", value: sessionStorage.getItem(ANSWER_AS) || "", maxlength: "200",
    autocomplete: "username" });
  const box = h("div", { id: "steering", "aria-live": "polite" });
  const more = h("button", { type: "button", text: "Load more", hidden: true });
  main("Steering",
    h("p", { class: "muted", text: "Runs waiting for a person's decision (WorkflowApproval nodes). Answering continues the run on the edge for the choice." }),
    h("div", { class: "filters" },
      h("div", {}, h("label", { for: "steering-status", text: "Status" }), status),
      h("div", {}, h("label", { for: "answer-as", text: "Answer as (user id, optional)" }), answerAs)),
    box, more);
  answerAs.addEventListener("change", () => {
    if (answerAs.value.trim()) sessionStorage.setItem(ANSWER_AS, answerAs.value.trim());
    else sessionStorage.removeItem(ANSWER_AS);
  });

  let cursor = null;
  async function load(reset) {
    if (reset) cursor = null;
    const query = new URLSearchParams({ limit: "50" });
    if (status.value) query.set("status", status.value);
    if (cursor) query.set("cursor", cursor);
    let answer;
    try {
      answer = await api("GET", `/steering_requests?${query}`, { signal });
    } catch (error) {
      if (signal.aborted) return;
      box.replaceChildren(error.status === 404 && error.code === "not_found" && !cursor
        ? h("p", { class: "muted", text: "Steering requests are not available on this server." })
        : errorBox(error));
      more.hidden = true;
      return;
    }
    // Cards already shown (same request, same status) are kept: a note being typed survives a reload.
    const shown = new Map([...box.querySelectorAll("article.steering")].map((c) => [`${c.dataset.id}:${c.dataset.status}`, c]));
    const cards = answer.data.map((r) => shown.get(`${r.id}:${r.status}`) || steeringCard(r, { signal, onAnswered: () => load(true) }));
    if (reset) box.replaceChildren(...cards); else box.append(...cards);
    if (!box.children.length) box.replaceChildren(h("p", { class: "muted", text: status.value ? `No ${status.value} steering requests.` : "No steering requests." }));
    cursor = answer.next_cursor;
    more.hidden = !cursor;
  }
  status.addEventListener("change", () => load(true));
  more.addEventListener("click", () => load(false));
  const reload = debounce(() => load(true), 100);
  await appStream(STEERING_EVENTS, () => reload(), signal);
  if (signal.aborted) return;
  await load(true);
  document.body.dataset.ready = "steering";
}

// -- start --------------------------------------------------------------------------------------

document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
setInterval(() => { // relative times stay true while the page is open
  for (const el of document.querySelectorAll("time[datetime] .rel")) el.textContent = relative(el.parentElement.getAttribute("datetime"));
}, 30000);
window.addEventListener("hashchange", () => {
  if (location.hash && !location.hash.startsWith("#/")) return; // an in-page link ("Skip to content"), not a page
  route();
  document.getElementById("main").focus({ preventScroll: false }); // screen readers start at the new page
});
route();
