/*
 * GovOffice Assistant sandbox: Telegram's phone app for several users, side by side.
 *
 * Plain standards JavaScript, no framework and nothing from the internet. Every piece of
 * page chrome comes from config.strings[ui_locale]; everything inside a chat is whatever the
 * bot (or a user) sent, and is always put into the page as text nodes, never as HTML.
 *
 * Data flow: one EventSource for the whole page feeds per-chat stores (chat_id -> messages);
 * each phone renders a view of one store and keeps a message_id -> element map so that new
 * messages, edits and deletions touch only their own node.
 */

const PREFS_KEY = "govoffice.sandbox.ui.v1";
const MAX_DOM_MESSAGES = 300;
const MAX_TRAFFIC_ROWS = 100;
const MAX_LIVE_CALLS = 3000;
const TOAST_MS = 2500;
const TYPING_MS = 5000;
const PRESS_TIMEOUT_MS = 3000;
const RECONNECT_MS = 3000;
const SVG_NS = "http://www.w3.org/2000/svg";
const PRODUCT_NAME = "GovOffice Assistant";
const DEFAULT_MAX_UPLOAD = 20 * 1024 * 1024;

/* Material-style icon paths (24x24). */
const ICONS = {
  send: "M2.01 21 23 12 2.01 3 2 10l15 2-15 2z",
  attach:
    "M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z",
  reply: "M10 9V5l-7 7 7 7v-4.1c5 0 8.5 1.6 11 5.1-1-5-4-10-11-11z",
  close:
    "M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z",
  keyboard:
    "M20 5H4a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2zm-9 3h2v2h-2zm0 3h2v2h-2zM8 8h2v2H8zm0 3h2v2H8zm-1 2H5v-2h2zm0-3H5V8h2zm9 7H8v-2h8zm0-4h-2v-2h2zm0-3h-2V8h2zm3 3h-2v-2h2zm0-3h-2V8h2z",
  file: "M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zm-1 7V3.5L18.5 9z",
  open: "M19 19H5V5h7V3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2v-7h-2zM14 3v2h3.59l-9.83 9.83 1.41 1.41L19 6.41V10h2V3z",
  download: "M19 9h-4V3H9v6H5l7 7 7-7zM5 18v2h14v-2z",
  help:
    "M11 18h2v-2h-2zm1-16a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16zm0-14a4 4 0 0 0-4 4h2a2 2 0 1 1 4 0c0 2-3 1.75-3 5h2c0-2.25 3-2.5 3-5a4 4 0 0 0-4-4z",
  slash: "M15.6 3.2 17.4 4 8.4 20.8 6.6 20z",
  chevronRight: "M10 6 8.59 7.41 13.17 12l-4.58 4.59L10 18l6-6z",
  chevronLeft: "M15.41 7.41 14 6l-6 6 6 6 1.41-1.41L10.83 12z",
};

/* ---------------------------------------------------------------------------------------- */
/* State                                                                                    */
/* ---------------------------------------------------------------------------------------- */

const app = {
  config: null,
  locale: "",
  prefs: loadPrefs(),
  phones: [],
  selected: 0,
  personas: new Map(), // user_id -> persona
  groups: new Map(), // chat_id -> group
  stores: new Map(), // chat_id -> store
  topics: new Map(), // chat_id -> Map(thread_id -> name)
  topicLoads: new Map(), // chat_id -> Promise
  userLang: new Map(), // user_id -> language_code (the phone app's language)
  answered: new Set(), // callback_query ids already answered (press/answer race)
  liveCalls: [], // recent api_call events, for getUpdates rows on re-selection
  events: null,
  lostConnection: false,
};

function loadPrefs() {
  try {
    const raw = window.localStorage.getItem(PREFS_KEY);
    const data = raw ? JSON.parse(raw) : null;
    return data && typeof data === "object" ? data : {};
  } catch {
    return {};
  }
}

function savePrefs() {
  try {
    window.localStorage.setItem(PREFS_KEY, JSON.stringify(app.prefs));
  } catch {
    /* private mode or quota: preferences simply do not persist */
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Strings                                                                                  */
/* ---------------------------------------------------------------------------------------- */

function t(key, args) {
  const table = (app.config && app.config.strings && app.config.strings[app.locale]) || {};
  let text = Object.prototype.hasOwnProperty.call(table, key) ? String(table[key]) : key;
  if (args) {
    text = text.replace(/\{(\w+)\}/g, (whole, name) =>
      Object.prototype.hasOwnProperty.call(args, name) ? String(args[name]) : whole,
    );
  }
  return text;
}

/** Bind an element's text / title / placeholder / aria-label / alt to string keys. */
function tr(el, keys, args) {
  if (keys.text) el.dataset.i18n = keys.text;
  if (keys.title) el.dataset.i18nTitle = keys.title;
  if (keys.placeholder) el.dataset.i18nPh = keys.placeholder;
  if (keys.aria) el.dataset.i18nAria = keys.aria;
  if (keys.alt) el.dataset.i18nAlt = keys.alt;
  if (args) el.dataset.i18nArgs = JSON.stringify(args);
  else delete el.dataset.i18nArgs;
  applyOne(el);
  return el;
}

function applyOne(el) {
  const d = el.dataset;
  let args;
  if (d.i18nArgs) {
    try {
      args = JSON.parse(d.i18nArgs);
    } catch {
      args = undefined;
    }
  }
  if (d.i18n) el.textContent = t(d.i18n, args);
  if (d.i18nTitle) el.title = t(d.i18nTitle, args);
  if (d.i18nPh) el.placeholder = t(d.i18nPh, args);
  if (d.i18nAria) el.setAttribute("aria-label", t(d.i18nAria, args));
  if (d.i18nAlt) el.alt = t(d.i18nAlt, args);
  if (d.i18nDate) el.textContent = formatDay(Number(d.i18nDate));
}

const I18N_SELECTOR =
  "[data-i18n],[data-i18n-title],[data-i18n-ph],[data-i18n-aria],[data-i18n-alt],[data-i18n-date]";

function applyAll(root) {
  for (const el of root.querySelectorAll(I18N_SELECTOR)) applyOne(el);
}

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                            */
/* ---------------------------------------------------------------------------------------- */

/** Create an element. Children that are strings become text nodes (never HTML). */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2), value);
      } else el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

function icon(name, cls) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", cls ? `icon ${cls}` : "icon");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICONS[name] || "");
  svg.append(path);
  return svg;
}

async function api(path, body) {
  const init =
    body === undefined
      ? { headers: { Accept: "application/json" } }
      : {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(body),
        };
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new Error(err && err.message ? err.message : String(err));
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok || !data || data.ok !== true) {
    const reason = data && (data.error || data.description);
    throw new Error(reason ? String(reason) : `HTTP ${response.status}`);
  }
  return data.result;
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

function hhmm(seconds) {
  const d = new Date(seconds * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function clockMs(seconds) {
  const d = new Date(seconds * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function dayKey(seconds) {
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

function localeTag() {
  return (app.locale || "en").replace(/_/g, "-");
}

function formatDay(seconds) {
  const date = new Date(seconds * 1000);
  try {
    return new Intl.DateTimeFormat(localeTag(), {
      year: "numeric",
      month: "long",
      day: "numeric",
    }).format(date);
  } catch {
    return date.toLocaleDateString();
  }
}

function sizeLabel(bytes) {
  const n = Number(bytes) || 0;
  if (n >= 1024 * 1024) return ["file_size_mb", { size: (n / (1024 * 1024)).toFixed(1) }];
  const kb = n / 1024;
  return ["file_size_kb", { size: kb < 10 ? Math.max(kb, 0.1).toFixed(1) : kb.toFixed(0) }];
}

function firstChar(text) {
  const chars = Array.from(String(text || "").trim());
  return chars.length ? chars[0].toUpperCase() : "?";
}

function colorIndex(id) {
  return Math.abs(Number(id) || 0) % 7;
}

function fileUrl(fileId, download) {
  const base = `/__emu/files/${encodeURIComponent(fileId)}`;
  return download ? `${base}?download=1` : base;
}

function oneLine(text, max = 90) {
  const flat = String(text || "").replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** http(s) links are followed; tg: links are shown but never followed; nothing else links. */
function safeUrl(raw) {
  let text = String(raw || "").trim();
  if (!text) return null;
  if (!/^[a-z][a-z0-9+.-]*:/i.test(text)) text = `http://${text}`;
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol === "http:" || url.protocol === "https:") return { href: url.href, follow: true };
  if (url.protocol === "tg:") return { href: text, follow: false };
  return null;
}

function openExternal(href) {
  window.open(href, "_blank", "noopener");
}

/* ---------------------------------------------------------------------------------------- */
/* Formatted text: text + entities -> DOM (entities may nest; offsets are UTF-16 = JS)      */
/* ---------------------------------------------------------------------------------------- */

function renderRich(text, entities, ctx) {
  const frag = document.createDocumentFragment();
  const len = text.length;
  const items = (Array.isArray(entities) ? entities : [])
    .map((e, i) => ({
      e,
      i,
      start: Number(e && e.offset),
      end: Number(e && e.offset) + Number(e && e.length),
    }))
    .filter((n) => Number.isFinite(n.start) && Number.isFinite(n.end) && n.start >= 0 && n.start < len && n.end > n.start)
    .map((n) => ({ ...n, end: Math.min(n.end, len), children: [] }))
    .sort((a, b) => a.start - b.start || b.end - a.end || a.i - b.i);
  const root = { start: 0, end: len, children: [] };
  const stack = [root];
  for (const node of items) {
    while (stack.length > 1 && node.start >= stack[stack.length - 1].end) stack.pop();
    const parent = stack[stack.length - 1];
    node.end = Math.min(node.end, parent.end); // a crossing entity is clipped to its parent
    if (node.end <= node.start) continue;
    parent.children.push(node);
    stack.push(node);
  }
  const build = (node, into) => {
    let pos = node.start;
    for (const child of node.children) {
      if (child.start > pos) into.append(text.slice(pos, child.start));
      const made = entityNode(child.e, text.slice(child.start, child.end), ctx);
      const [outer, inner] = Array.isArray(made) ? made : [made, made];
      build(child, inner);
      into.append(outer);
      pos = child.end;
    }
    if (pos < node.end) into.append(text.slice(pos, node.end));
  };
  build(root, frag);
  return frag;
}

function linkNode(raw) {
  const url = safeUrl(raw);
  if (!url) return h("span");
  if (!url.follow) return h("a", { class: "link tg-link", title: url.href }); // no href: not followed
  return h("a", {
    class: "link",
    href: url.href,
    target: "_blank",
    rel: "noopener noreferrer",
    title: url.href,
  });
}

function entityNode(e, segment, ctx) {
  switch (e.type) {
    case "bold":
      return h("strong");
    case "italic":
      return h("em");
    case "underline":
      return h("u");
    case "strikethrough":
      return h("s");
    case "spoiler": {
      const el = tr(h("span", { class: "spoiler", tabindex: "0", role: "button" }), {
        title: "spoiler_hint",
      });
      const reveal = (ev) => {
        if (el.classList.contains("revealed")) return;
        ev.preventDefault();
        ev.stopPropagation();
        el.classList.add("revealed");
        delete el.dataset.i18nTitle;
        el.removeAttribute("title");
        el.removeAttribute("role");
        el.removeAttribute("tabindex");
      };
      el.addEventListener("click", reveal);
      el.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") reveal(ev);
      });
      return el;
    }
    case "code":
      return h("code", { class: "code" });
    case "pre": {
      const code = h("code");
      const pre = h("pre", { class: "pre" }, code);
      if (e.language) pre.dataset.lang = String(e.language);
      return [pre, code];
    }
    case "blockquote":
      return h("blockquote", { class: "bq" });
    case "expandable_blockquote": {
      const el = h("blockquote", { class: "bq expandable" });
      el.addEventListener("click", () => el.classList.toggle("open"));
      return el;
    }
    case "text_link":
      return linkNode(e.url);
    case "url":
      return linkNode(segment);
    case "email":
    case "phone_number":
      return h("span", { class: "ent-contact" });
    case "mention":
      return h("span", { class: "mention" });
    case "text_mention": {
      const user = e.user || {};
      const name = [user.first_name, user.last_name].filter(Boolean).join(" ");
      return h("span", { class: "mention", title: name || null });
    }
    case "hashtag":
    case "cashtag":
      return h("span", { class: "hashtag" });
    case "bot_command": {
      const el = h("span", { class: "bot-cmd", role: "button", tabindex: "0" });
      const run = (ev) => {
        ev.preventDefault();
        ev.stopPropagation();
        if (ctx && ctx.onCommand) ctx.onCommand(segment);
      };
      el.addEventListener("click", run);
      el.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") run(ev);
      });
      return el;
    }
    case "custom_emoji":
      return h("span", { class: "custom-emoji" });
    default:
      return h("span");
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Chat stores                                                                              */
/* ---------------------------------------------------------------------------------------- */

function getStore(chatId) {
  let store = app.stores.get(chatId);
  if (!store) {
    store = { chatId, msgs: new Map(), sorted: null, loaded: false, loading: null, queue: [], gen: 0, error: null };
    app.stores.set(chatId, store);
  }
  if (!store.loaded && !store.loading) store.loading = loadStore(store);
  return store;
}

async function loadStore(store) {
  const gen = ++store.gen;
  store.queue = [];
  let list = [];
  let error = null;
  try {
    list = await api(`/__emu/chats/${store.chatId}/messages?include_user=1&include_deleted=0`);
  } catch (err) {
    error = err;
  }
  if (gen !== store.gen) return;
  store.msgs = new Map();
  for (const m of Array.isArray(list) ? list : []) if (!m.deleted) store.msgs.set(m.message_id, m);
  store.sorted = null;
  store.error = error;
  store.loaded = true;
  const queued = store.queue;
  store.queue = [];
  for (const [type, message] of queued) mergeEvent(store, type, message);
  store.loading = null;
}

function sortedMessages(store) {
  if (!store.sorted) store.sorted = [...store.msgs.values()].sort((a, b) => a.message_id - b.message_id);
  return store.sorted;
}

function versionRank(m) {
  return (Array.isArray(m.versions) ? m.versions.length : 0) * 1e10 + (Number(m.edit_date) || 0);
}

/** Apply one live event to a store; returns "add" | "edit" | "delete" | null (no change). */
function mergeEvent(store, type, m) {
  if (!m || typeof m.message_id !== "number") return null;
  const id = m.message_id;
  const old = store.msgs.get(id);
  if (type === "delete" || m.deleted) {
    if (!old) return null;
    store.msgs.delete(id);
    store.sorted = null;
    return "delete";
  }
  if (type === "message") {
    if (old) return null;
    store.msgs.set(id, m);
    store.sorted = null;
    return "add";
  }
  if (old && versionRank(old) > versionRank(m)) return null;
  store.msgs.set(id, m);
  store.sorted = null;
  return old ? "edit" : "add";
}

function dispatchMessageEvent(type, data) {
  const message = data && data.message;
  const chatId = Number(data && data.chat_id !== undefined ? data.chat_id : message && message.chat_id);
  const store = app.stores.get(chatId);
  if (!store) return;
  if (store.loading) {
    store.queue.push([type, message]);
    return;
  }
  if (!store.loaded) return;
  const change = mergeEvent(store, type, message);
  if (!change) return;
  for (const phone of app.phones) if (phone.chatId === chatId) phone.onChange(change, message);
}

function loadTopics(chatId) {
  if (app.topics.has(chatId)) return Promise.resolve(app.topics.get(chatId));
  let pending = app.topicLoads.get(chatId);
  if (!pending) {
    pending = api(`/__emu/groups/${chatId}/topics`)
      .then((list) => {
        const map = new Map();
        for (const topic of Array.isArray(list) ? list : []) {
          map.set(Number(topic.message_thread_id), String(topic.name || ""));
        }
        app.topics.set(chatId, map);
        return map;
      })
      .catch(() => {
        app.topics.set(chatId, new Map());
        return app.topics.get(chatId);
      })
      .finally(() => app.topicLoads.delete(chatId));
    app.topicLoads.set(chatId, pending);
  }
  return pending;
}

/* ---------------------------------------------------------------------------------------- */
/* Phone                                                                                    */
/* ---------------------------------------------------------------------------------------- */

function personaLabel(p) {
  const role = p.roles ? p.roles[app.locale] || p.roles.en || Object.values(p.roles)[0] : "";
  return [p.name, p.department, role].filter(Boolean).join(" · ");
}

function matchPhoneLanguage(code) {
  const langs = (app.config.phone_languages || []).map((l) => l.code);
  if (!code) return null;
  if (langs.includes(code)) return code;
  const base = String(code).split(/[-_]/)[0].toLowerCase();
  return langs.find((c) => String(c).split(/[-_]/)[0].toLowerCase() === base) || null;
}

function groupsOf(userId) {
  return (app.config.groups || []).filter((g) => (g.member_ids || []).map(Number).includes(userId));
}

class Phone {
  constructor(slot, saved) {
    this.slot = slot;
    this.userId = saved.user;
    this.chatKey = saved.chat;
    this.threadId = saved.topic === "" || saved.topic === null || saved.topic === undefined ? null : Number(saved.topic);
    this.nodes = new Map(); // message_id -> element
    this.lastId = 0;
    this.lastDay = null;
    this.loadingView = true;
    this.stick = true;
    this.openToken = 0;
    this.commands = [];
    this.menuOpen = false;
    this.menuFromButton = false;
    this.menuItems = [];
    this.menuIndex = -1;
    this.replyTo = null;
    this.kbKey = null;
    this.kbHidden = false;
    this.pending = new Map(); // callback_query_id -> {button, timer}
    this.actions = Promise.resolve(); // what this user does reaches the server in order
    this.typingTimer = null;
    this.build();
    this.ready = this.open();
  }

  /* ---- identity ---------------------------------------------------------------------- */

  get chatId() {
    return this.chatKey === "private" ? this.userId : Number(this.chatKey);
  }

  get isGroup() {
    return this.chatKey !== "private";
  }

  get group() {
    return this.isGroup ? app.groups.get(Number(this.chatKey)) || null : null;
  }

  get isForum() {
    const g = this.group;
    return Boolean(g && g.forum);
  }

  get persona() {
    return app.personas.get(this.userId) || null;
  }

  store() {
    return app.stores.get(this.chatId) || null;
  }

  save() {
    const slots = Array.isArray(app.prefs.slots) ? app.prefs.slots : [];
    slots[this.slot] = {
      user: this.userId,
      chat: this.chatKey,
      topic: this.threadId === null ? "" : String(this.threadId),
    };
    app.prefs.slots = slots;
    savePrefs();
  }

  /* ---- DOM skeleton ------------------------------------------------------------------ */

  build() {
    const field = (cls, key, select) =>
      h("label", { class: `field ${cls}` }, tr(h("span", { class: "field-cap" }), { text: key }), select);

    this.personaSelect = h("select", { "data-testid": "persona-select", class: "sel" });
    tr(this.personaSelect, { aria: "who", title: "who" });
    this.chatSelect = h("select", { "data-testid": "chat-select", class: "sel" });
    tr(this.chatSelect, { aria: "chat", title: "chat" });
    this.topicSelect = h("select", { "data-testid": "topic-select", class: "sel" });
    tr(this.topicSelect, { aria: "topic", title: "topic" });
    this.langSelect = h("select", { "data-testid": "lang-select", class: "sel" });
    tr(this.langSelect, { aria: "phone_language", title: "phone_language" });
    this.topicField = field("f-topic", "topic", this.topicSelect);

    this.personaSelect.addEventListener("change", () => this.changePersona(Number(this.personaSelect.value)));
    this.chatSelect.addEventListener("change", () => this.changeChat(this.chatSelect.value));
    this.topicSelect.addEventListener("change", () => this.changeTopic(this.topicSelect.value));
    this.langSelect.addEventListener("change", () => this.changeLanguage(this.langSelect.value));

    const sim = h(
      "div",
      { class: "sim" },
      h("div", { class: "sim-row" }, field("f-who", "who", this.personaSelect), field("f-lang", "phone_language", this.langSelect)),
      h("div", { class: "sim-row" }, field("f-chat", "chat", this.chatSelect), this.topicField),
    );

    this.avatar = h("div", { class: "avatar", "aria-hidden": "true" });
    this.headTitle = h("div", { class: "head-title" });
    this.headSub = h("div", { class: "head-sub" });
    const head = h("header", { class: "tg-head" }, this.avatar, h("div", { class: "head-text" }, this.headTitle, this.headSub));

    this.list = h("div", { class: "msg-list" });
    this.emptyState = h("div", { class: "empty-state" }, h("span", { class: "empty-chip" }));
    this.scroller = h("div", { class: "msgs" }, this.list, this.emptyState);
    this.scroller.addEventListener("scroll", () => {
      this.stick = this.nearBottom();
    }, { passive: true });

    // composer and everything above it
    this.menuList = h("div", { class: "cmd-list", role: "listbox" });
    this.menu = h("div", { class: "cmd-menu", hidden: true }, this.menuList);

    this.replyText = h("div", { class: "reply-bar-text" });
    const cancelReply = h("button", { type: "button", class: "icon-btn reply-cancel" }, icon("close"));
    tr(cancelReply, { title: "cancel_reply", aria: "cancel_reply" });
    cancelReply.addEventListener("click", () => this.cancelReply());
    this.replyBar = h("div", { class: "reply-bar", hidden: true }, icon("reply", "reply-bar-icon"), this.replyText, cancelReply);

    this.kbPanel = h("div", { class: "reply-kb", hidden: true });

    this.input = h("textarea", { "data-testid": "composer-input", class: "composer-input", rows: "1" });
    tr(this.input, { placeholder: "input_placeholder", aria: "input_placeholder" });
    this.input.addEventListener("keydown", (ev) => this.onKeyDown(ev));
    this.input.addEventListener("input", () => this.onInput());

    this.cmdButton = h("button", { type: "button", "data-testid": "commands-button", class: "icon-btn cmd-btn" }, icon("slash"));
    tr(this.cmdButton, { title: "commands", aria: "commands" });
    this.cmdButton.addEventListener("click", () => {
      if (this.menuOpen && this.menuFromButton) this.closeMenu();
      else this.openMenu("", true);
    });

    this.kbToggle = h("button", { type: "button", class: "icon-btn kb-toggle", hidden: true }, icon("keyboard"));
    this.kbToggle.addEventListener("click", () => {
      this.kbHidden = !this.kbHidden;
      this.updateReplyKeyboard();
    });

    this.fileInput = h("input", { type: "file", "data-testid": "file-input", class: "file-input", tabindex: "-1" });
    this.fileInput.addEventListener("change", () => {
      const file = this.fileInput.files && this.fileInput.files[0];
      if (file) this.upload(file);
      this.fileInput.value = "";
    });
    const attach = h("button", { type: "button", class: "icon-btn attach-btn" }, icon("attach"));
    tr(attach, { title: "attach", aria: "attach" });
    attach.addEventListener("click", () => this.fileInput.click());

    this.sendButton = h("button", { type: "button", "data-testid": "send", class: "send-btn" }, icon("send"));
    tr(this.sendButton, { title: "send", aria: "send" });
    this.sendButton.addEventListener("click", () => this.submit());

    const composer = h("div", { class: "composer" }, this.cmdButton, this.input, this.kbToggle, attach, this.fileInput, this.sendButton);
    const bottom = h("div", { class: "bottom" }, this.menu, this.replyBar, composer, this.kbPanel);

    this.toasts = h("div", { class: "toasts", "aria-live": "polite" });
    this.alerts = h("div", { class: "alerts" });

    const screen = h("div", { class: "screen" }, head, this.scroller, bottom, this.toasts, this.alerts);
    this.root = h("div", { class: "phone", "data-testid": "phone", "data-slot": String(this.slot) }, sim, screen);
    this.root.addEventListener("pointerdown", () => selectPhone(this.slot), true);
    this.root.addEventListener("focusin", () => selectPhone(this.slot));
  }

  destroy() {
    this.openToken += 1;
    clearTimeout(this.typingTimer);
    for (const { timer } of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    this.root.remove();
  }

  /* ---- selects ----------------------------------------------------------------------- */

  fillPersonas() {
    const options = [];
    for (const p of app.config.personas || []) {
      options.push(h("option", { value: String(p.user_id), text: personaLabel(p) }));
    }
    this.personaSelect.replaceChildren(...options);
    this.personaSelect.value = String(this.userId);
  }

  fillChats() {
    const bot = app.config.bot || {};
    const priv = tr(h("option", { value: "private" }), { text: "private_chat" }, { bot: bot.first_name || PRODUCT_NAME });
    const options = [priv];
    for (const g of groupsOf(this.userId)) options.push(h("option", { value: String(g.chat_id), text: g.title }));
    this.chatSelect.replaceChildren(...options);
    this.chatSelect.value = this.chatKey;
  }

  fillTopics() {
    this.topicField.hidden = !this.isForum;
    if (!this.isForum) {
      this.topicSelect.replaceChildren();
      return;
    }
    const options = [tr(h("option", { value: "" }), { text: "topic_general" })];
    const topics = app.topics.get(this.chatId);
    if (topics) {
      for (const [id, name] of [...topics.entries()].sort((a, b) => a[0] - b[0])) {
        options.push(h("option", { value: String(id), text: name }));
      }
    }
    if (this.threadId !== null && !(topics && topics.has(this.threadId)) && topics) {
      this.threadId = null; // the saved topic no longer exists
    }
    this.topicSelect.replaceChildren(...options);
    this.topicSelect.value = this.threadId === null ? "" : String(this.threadId);
  }

  fillLanguages() {
    const langs = app.config.phone_languages || [];
    const options = langs.map((l) => h("option", { value: l.code, text: l.label }));
    this.langSelect.replaceChildren(...options);
    const current = app.userLang.get(this.userId);
    const persona = this.persona;
    const value = matchPhoneLanguage(current) || matchPhoneLanguage(persona && persona.language_code);
    if (value) this.langSelect.value = value;
  }

  relabel() {
    this.fillPersonas();
    this.updateHeader();
    this.updateReplyKeyboard(true);
    if (this.menuOpen) this.renderMenu();
  }

  /* ---- changes ----------------------------------------------------------------------- */

  changePersona(userId) {
    if (!app.personas.has(userId) || userId === this.userId) return;
    this.userId = userId;
    if (this.isGroup && !groupsOf(userId).some((g) => String(g.chat_id) === this.chatKey)) {
      this.chatKey = "private";
      this.threadId = null;
    }
    this.save();
    this.open();
    if (app.selected === this.slot) traffic.load();
  }

  changeChat(key) {
    if (key === this.chatKey) return;
    this.chatKey = key;
    this.threadId = null;
    this.save();
    this.open();
    if (app.selected === this.slot) traffic.load();
  }

  changeTopic(value) {
    this.threadId = value === "" ? null : Number(value);
    this.save();
    this.cancelReply();
    this.updateHeader();
    if (!this.loadingView) this.render();
  }

  async changeLanguage(code) {
    try {
      const userId = this.userId;
      const user = await this.serial(() => api(`/__emu/users/${userId}/language`, { language_code: code }));
      if (user && typeof user.id === "number") app.userLang.set(user.id, user.language_code || null);
    } catch (err) {
      this.toast(t("send_failed", { error: err.message }));
      this.fillLanguages();
      return;
    }
    for (const phone of app.phones) {
      if (phone.userId === this.userId) {
        if (phone !== this) phone.fillLanguages();
        phone.loadCommands();
      }
    }
  }

  /* ---- loading and full render ------------------------------------------------------- */

  async open() {
    const token = ++this.openToken;
    this.cancelReply();
    this.closeMenu();
    this.clearTyping();
    this.root.dataset.userId = String(this.userId);
    this.root.dataset.chatId = String(this.chatId);
    this.fillPersonas();
    this.fillChats();
    this.fillLanguages();
    this.fillTopics();
    this.updateHeader();
    this.loadingView = true;
    this.list.replaceChildren();
    this.nodes.clear();
    this.kbKey = null;
    this.kbPanel.hidden = true;
    this.kbToggle.hidden = true;
    this.showEmpty("loading");
    const store = getStore(this.chatId);
    const waits = [store.loading, this.loadCommands(), this.isForum ? loadTopics(this.chatId) : null];
    await Promise.all(waits.map((p) => Promise.resolve(p).catch(() => undefined)));
    if (token !== this.openToken) return;
    this.fillTopics();
    this.updateHeader();
    this.render();
  }

  async loadCommands() {
    const userId = this.userId;
    const chatId = this.chatId;
    let list = [];
    try {
      list = await api(`/__emu/users/${userId}/commands?chat_id=${chatId}`);
    } catch {
      list = [];
    }
    if (userId !== this.userId || chatId !== this.chatId) return;
    this.commands = Array.isArray(list) ? list : [];
    if (this.menuOpen) this.renderMenu();
  }

  visible(m) {
    if (!m || m.deleted) return false;
    if (!this.isForum) return true;
    const thread = m.message_thread_id === null || m.message_thread_id === undefined ? null : Number(m.message_thread_id);
    return thread === this.threadId;
  }

  render() {
    const store = this.store();
    this.loadingView = false;
    this.nodes.clear();
    this.lastId = 0;
    this.lastDay = null;
    const frag = document.createDocumentFragment();
    if (store) {
      const shown = sortedMessages(store).filter((m) => this.visible(m)).slice(-MAX_DOM_MESSAGES);
      for (const m of shown) this.appendTo(frag, m);
    }
    this.list.replaceChildren(frag);
    this.updateEmpty();
    this.updateReplyKeyboard();
    this.scrollToBottom();
  }

  appendTo(container, m) {
    const day = dayKey(m.date);
    if (day !== this.lastDay) {
      container.append(h("div", { class: "day-sep" }, h("span", { "data-i18n-date": String(m.date), text: formatDay(m.date) })));
      this.lastDay = day;
    }
    const el = this.renderMessage(m);
    this.nodes.set(m.message_id, el);
    this.lastId = Math.max(this.lastId, m.message_id);
    container.append(el);
  }

  showEmpty(key) {
    const chip = this.emptyState.firstElementChild;
    tr(chip, { text: key });
    chip.classList.toggle("is-loading", key === "loading");
    this.emptyState.hidden = false;
  }

  updateEmpty() {
    if (this.loadingView) return;
    if (this.nodes.size === 0) this.showEmpty("no_messages");
    else this.emptyState.hidden = true;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 48;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.stick = true;
  }

  /* ---- incremental updates ----------------------------------------------------------- */

  onChange(change, m) {
    if (this.loadingView) return; // the pending full render will include it
    const id = m.message_id;
    if (change === "add") {
      if (m.from_bot) this.clearTyping();
      if (!this.visible(m) || this.nodes.has(id)) return;
      const follow = this.nearBottom() || (!m.from_bot && m.sender_id === this.userId);
      if (this.nodes.size && id < this.lastId) {
        this.render(); // out of order (rare): rebuild
        return;
      }
      this.appendTo(this.list, m);
      while (this.nodes.size > MAX_DOM_MESSAGES) {
        const first = this.list.querySelector('[data-testid="message"]');
        if (!first) break;
        this.nodes.delete(Number(first.dataset.messageId));
        removeWithSeparator(first);
      }
      this.updateEmpty();
      this.updateReplyKeyboard();
      if (follow) this.scrollToBottom();
    } else if (change === "edit") {
      const old = this.nodes.get(id);
      if (old) {
        const follow = this.nearBottom();
        const fresh = this.renderMessage(m);
        fresh.classList.add("flash");
        fresh.addEventListener("animationend", () => fresh.classList.remove("flash"), { once: true });
        old.replaceWith(fresh);
        this.nodes.set(id, fresh);
        if (follow) this.scrollToBottom();
      }
      this.updateReplyKeyboard();
    } else if (change === "delete") {
      const old = this.nodes.get(id);
      if (old) {
        this.nodes.delete(id);
        removeWithSeparator(old);
      }
      if (this.replyTo === id) this.cancelReply();
      this.updateEmpty();
      this.updateReplyKeyboard();
    }
  }

  /* ---- one message ------------------------------------------------------------------- */

  senderName(m) {
    if (m.from_bot) return (app.config.bot && app.config.bot.first_name) || PRODUCT_NAME;
    return m.sender_name || String(m.sender_id);
  }

  snippet(m) {
    if (m.text) return { text: oneLine(m.text, 80) };
    if (m.kind === "photo") return { key: "photo" };
    if (m.document) return { text: m.document.file_name || m.document.file_id };
    return { text: m.kind || "" };
  }

  renderMessage(m) {
    const own = !m.from_bot && Number(m.sender_id) === this.userId;
    const row = h("div", {
      class: `msg ${own ? "out" : "in"}`,
      "data-testid": "message",
      "data-message-id": String(m.message_id),
      "data-from-bot": m.from_bot ? "1" : "0",
    });
    if (m.edit_date) row.classList.add("edited");

    const bubble = h("div", { class: "bubble" });
    if (this.isGroup && !own) {
      const senderId = m.from_bot ? (app.config.bot && app.config.bot.id) || 0 : m.sender_id;
      bubble.append(h("div", { class: `sender c${colorIndex(senderId)}`, text: this.senderName(m) }));
    }
    if (m.reply_to_message_id) {
      const quote = this.quote(m.reply_to_message_id);
      if (quote) bubble.append(quote);
    }
    const meta = h("span", { class: "meta" });
    if (m.edit_date) meta.append(tr(h("span", { class: "meta-edited" }), { text: "edited" }));
    meta.append(h("time", { text: hhmm(m.date), title: new Date(m.date * 1000).toLocaleString(localeTag()) }));

    const doc = m.document;
    const hasText = typeof m.text === "string" && m.text.length > 0;
    if (m.kind === "photo" && doc) {
      bubble.classList.add("has-photo");
      const src = fileUrl(doc.file_id, false);
      const img = tr(h("img", { class: "photo", src, loading: "lazy", decoding: "async" }), { alt: "photo", title: "photo" });
      img.addEventListener("load", () => {
        if (this.stick) this.scrollToBottom();
      });
      img.addEventListener("click", () => openExternal(src));
      const wrap = h("div", { class: "photo-wrap" }, img);
      if (!hasText) {
        meta.classList.add("on-media");
        wrap.append(meta);
      }
      bubble.append(wrap);
    } else if (doc) {
      bubble.append(this.fileCard(doc));
    }
    if (hasText) {
      const body = h("div", { class: "text" });
      body.append(renderRich(m.text, m.entities, { onCommand: (cmd) => this.sendText(cmd, null) }));
      body.append(meta);
      bubble.append(body);
    } else if (!(m.kind === "photo" && doc)) {
      if (!doc) bubble.append(h("div", { class: "text kind-label", text: m.kind || "" }));
      bubble.append(h("div", { class: "meta-line" }, meta));
    }

    const stack = h("div", { class: "stack" }, bubble);
    const markup = m.reply_markup;
    if (markup && Array.isArray(markup.inline_keyboard) && markup.inline_keyboard.length) {
      stack.append(this.inlineKeyboard(markup.inline_keyboard, m));
    }
    const replyAction = h("button", { type: "button", class: "reply-action", "data-testid": "reply-action" }, icon("reply"));
    tr(replyAction, { title: "reply", aria: "reply" });
    replyAction.addEventListener("click", (ev) => {
      ev.stopPropagation();
      this.startReply(m.message_id);
    });
    row.append(stack, replyAction);
    row.addEventListener("dblclick", (ev) => {
      if (ev.target.closest("button, a, .spoiler, .bot-cmd")) return;
      this.startReply(m.message_id);
    });
    return row;
  }

  quote(id) {
    const store = this.store();
    const target = store && store.msgs.get(id);
    if (!target) return null;
    const snip = this.snippet(target);
    const text = h("div", { class: "quote-text" });
    if (snip.key) tr(text, { text: snip.key });
    else text.textContent = snip.text;
    const senderId = target.from_bot ? (app.config.bot && app.config.bot.id) || 0 : target.sender_id;
    const el = h("div", { class: `quote c${colorIndex(senderId)}`, role: "button", tabindex: "0" }, h("div", { class: "quote-name", text: this.senderName(target) }), text);
    el.addEventListener("click", (ev) => {
      ev.stopPropagation();
      this.jumpTo(id);
    });
    return el;
  }

  jumpTo(id) {
    const el = this.nodes.get(id);
    if (!el) return;
    el.scrollIntoView({ block: "center", behavior: "smooth" });
    el.classList.remove("flash");
    void el.offsetWidth; // restart the highlight animation
    el.classList.add("flash");
    el.addEventListener("animationend", () => el.classList.remove("flash"), { once: true });
  }

  fileCard(doc) {
    const name = doc.file_name || doc.file_id;
    const dot = name.lastIndexOf(".");
    const ext = dot > 0 && name.length - dot <= 6 ? name.slice(dot + 1).toUpperCase() : "";
    const badge = h("div", { class: "file-icon", "aria-hidden": "true" }, icon("file"));
    if (ext) badge.append(h("span", { class: "file-ext", text: ext }));
    const [sizeKey, sizeArgs] = sizeLabel(doc.file_size);
    const openLink = h("a", { class: "file-link", href: fileUrl(doc.file_id, false), target: "_blank", rel: "noopener noreferrer" }, icon("open"), tr(h("span"), { text: "open_file" }));
    const downloadLink = h("a", { class: "file-link", href: fileUrl(doc.file_id, true), download: name }, icon("download"), tr(h("span"), { text: "download_file" }));
    return h(
      "div",
      { class: "file" },
      badge,
      h(
        "div",
        { class: "file-info" },
        h("div", { class: "file-name", text: name, title: name }),
        h("div", { class: "file-sub" }, tr(h("span", { class: "file-size" }), { text: sizeKey }, sizeArgs), openLink, downloadLink),
      ),
    );
  }

  inlineKeyboard(rows, m) {
    const kb = h("div", { class: "ikb" });
    for (const row of rows) {
      if (!Array.isArray(row) || !row.length) continue;
      const line = h("div", { class: "ikb-row" });
      for (const spec of row) {
        const button = typeof spec === "string" ? { text: spec } : spec || {};
        const el = h("button", { type: "button", class: "ikb-btn", "data-testid": "inline-button", text: String(button.text || "") });
        if (typeof button.callback_data === "string") {
          el.classList.add("is-callback");
          el.addEventListener("click", (ev) => {
            ev.stopPropagation();
            this.press(el, button.callback_data, m.message_id);
          });
        } else if (typeof button.url === "string" && !button.login_url) {
          const url = safeUrl(button.url);
          el.classList.add("is-url");
          el.title = button.url;
          if (url && url.follow) {
            el.addEventListener("click", (ev) => {
              ev.stopPropagation();
              openExternal(url.href);
            });
          } else {
            el.disabled = true;
          }
        } else {
          el.disabled = true;
        }
        line.append(el);
      }
      kb.append(line);
    }
    return kb;
  }

  /* ---- reply keyboard ---------------------------------------------------------------- */

  currentReplyKeyboard() {
    const store = this.store();
    if (!store) return null;
    const msgs = sortedMessages(store);
    for (let i = msgs.length - 1; i >= 0; i -= 1) {
      const m = msgs[i];
      if (!m.from_bot || !this.visible(m) || !m.reply_markup) continue;
      if (Array.isArray(m.reply_markup.keyboard)) return { markup: m.reply_markup, message: m };
      if (m.reply_markup.remove_keyboard) return null;
    }
    return null;
  }

  updateReplyKeyboard(force = false) {
    const found = this.loadingView ? null : this.currentReplyKeyboard();
    if (!found) {
      this.kbKey = null;
      this.kbPanel.hidden = true;
      this.kbToggle.hidden = true;
      return;
    }
    const key = `${found.message.message_id}:${(found.message.versions || []).length}`;
    if (key !== this.kbKey || force) {
      if (key !== this.kbKey) this.kbHidden = false;
      this.kbKey = key;
      const panel = [];
      for (const row of found.markup.keyboard) {
        if (!Array.isArray(row) || !row.length) continue;
        const line = h("div", { class: "rkb-row" });
        for (const spec of row) {
          const text = typeof spec === "string" ? spec : String((spec && spec.text) || "");
          const el = h("button", { type: "button", class: "rkb-btn", "data-testid": "reply-button", text });
          el.addEventListener("click", async () => {
            const ok = await this.sendText(text, null);
            if (ok && found.markup.one_time_keyboard) {
              this.kbHidden = true;
              this.updateReplyKeyboard();
            }
          });
          line.append(el);
        }
        panel.push(line);
      }
      this.kbPanel.replaceChildren(...panel);
    }
    this.kbToggle.hidden = false;
    this.kbPanel.hidden = this.kbHidden;
    this.kbToggle.classList.toggle("active", !this.kbHidden);
    const key2 = this.kbHidden ? "keyboard_show" : "keyboard_hide";
    tr(this.kbToggle, { title: key2, aria: key2 });
  }

  /* ---- header, typing, toasts, alerts ------------------------------------------------ */

  updateHeader() {
    const bot = app.config.bot || {};
    let title;
    let avatarSeed;
    if (this.isGroup) {
      const g = this.group;
      title = g ? g.title : String(this.chatKey);
      avatarSeed = this.chatId;
    } else {
      title = bot.first_name || PRODUCT_NAME;
      avatarSeed = bot.id || 0;
    }
    this.headTitle.textContent = title;
    this.avatar.textContent = firstChar(title);
    this.avatar.className = `avatar c${colorIndex(avatarSeed)}${this.isGroup ? "" : " bot"}`;
    if (this.typingTimer) return;
    this.renderHeadSub();
  }

  renderHeadSub() {
    const sub = this.headSub;
    sub.classList.remove("typing");
    delete sub.dataset.i18n;
    delete sub.dataset.i18nArgs;
    if (!this.isGroup) {
      const bot = app.config.bot || {};
      sub.textContent = bot.username ? `@${bot.username}` : "";
    } else if (this.isForum) {
      if (this.threadId === null) tr(sub, { text: "topic_general" });
      else {
        const topics = app.topics.get(this.chatId);
        sub.textContent = (topics && topics.get(this.threadId)) || String(this.threadId);
      }
    } else {
      const g = this.group;
      const names = ((g && g.member_ids) || []).map((id) => {
        const p = app.personas.get(Number(id));
        return p ? p.name : String(id);
      });
      sub.textContent = names.join(", ");
    }
  }

  setTyping() {
    clearTimeout(this.typingTimer);
    this.headSub.classList.add("typing");
    tr(this.headSub, { text: "typing" });
    this.typingTimer = setTimeout(() => this.clearTyping(), TYPING_MS);
  }

  clearTyping() {
    if (!this.typingTimer) return;
    clearTimeout(this.typingTimer);
    this.typingTimer = null;
    this.renderHeadSub();
  }

  toast(text) {
    const el = h("div", { class: "toast", "data-testid": "toast", role: "status", text });
    this.toasts.append(el);
    setTimeout(() => {
      el.classList.add("leaving");
      setTimeout(() => el.remove(), 250);
    }, TOAST_MS);
  }

  alert(text) {
    const ok = tr(h("button", { type: "button", class: "alert-ok", "data-testid": "alert-ok" }), { text: "alert_ok" });
    const layer = h(
      "div",
      { class: "alert-layer" },
      h("div", { class: "alert", "data-testid": "alert", role: "alertdialog", "aria-modal": "true" }, h("div", { class: "alert-text", text }), h("div", { class: "alert-actions" }, ok)),
    );
    ok.addEventListener("click", () => layer.remove());
    layer.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" || ev.key === "Enter") {
        ev.preventDefault();
        layer.remove();
      }
    });
    this.alerts.append(layer);
    // Take the keyboard focus only from this phone: never from another phone's composer.
    if (this.root.contains(document.activeElement)) ok.focus({ preventScroll: true });
  }

  onCallbackAnswer(data) {
    const entry = this.pending.get(data.callback_query_id);
    if (entry) {
      clearTimeout(entry.timer);
      entry.button.classList.remove("pending");
      this.pending.delete(data.callback_query_id);
    }
    const text = typeof data.text === "string" ? data.text : "";
    if (!text) return;
    if (data.show_alert) this.alert(text);
    else this.toast(text);
  }

  /* ---- acting as the user ------------------------------------------------------------ */

  async press(button, data, messageId) {
    if (button.classList.contains("pending")) return;
    button.classList.add("pending");
    const timer = setTimeout(() => {
      button.classList.remove("pending");
      for (const [id, entry] of this.pending) if (entry.button === button) this.pending.delete(id);
    }, PRESS_TIMEOUT_MS);
    try {
      const path = this.isGroup ? `/__emu/groups/${this.chatId}/press` : `/__emu/users/${this.userId}/press`;
      const body = this.isGroup ? { user_id: this.userId, data, message_id: messageId } : { data, message_id: messageId };
      const result = await this.serial(() => api(path, body));
      const queryId = result && result.callback_query_id;
      if (queryId && !app.answered.has(queryId) && button.classList.contains("pending")) {
        this.pending.set(queryId, { button, timer });
      } else {
        clearTimeout(timer);
        button.classList.remove("pending");
      }
    } catch (err) {
      clearTimeout(timer);
      button.classList.remove("pending");
      this.toast(t("send_failed", { error: err.message }));
    }
  }

  /** Run one user action after the previous ones, as a phone would send them. */
  serial(task) {
    const run = this.actions.then(task, task);
    this.actions = run.catch(() => undefined);
    return run;
  }

  async sendText(text, replyTo) {
    let path;
    let body;
    if (this.isGroup) {
      path = `/__emu/groups/${this.chatId}/send`;
      body = { user_id: this.userId, text, thread_id: this.isForum ? this.threadId : null, reply_to: replyTo };
    } else if (text.startsWith("/") && !replyTo) {
      path = `/__emu/users/${this.userId}/command`;
      body = { text };
    } else {
      path = `/__emu/users/${this.userId}/send`;
      body = { text, reply_to: replyTo };
    }
    try {
      await this.serial(() => api(path, body));
      return true;
    } catch (err) {
      this.toast(t("send_failed", { error: err.message }));
      return false;
    }
  }

  async submit() {
    const text = this.input.value;
    if (!text.trim()) return;
    const replyTo = this.replyTo;
    this.input.value = "";
    this.autosize();
    this.closeMenu();
    this.cancelReply();
    this.stick = true;
    const ok = await this.sendText(text.replace(/^\s+|\s+$/g, ""), replyTo);
    if (!ok && !this.input.value) {
      this.input.value = text; // give the text back so nothing is lost
      this.autosize();
      if (replyTo) this.startReply(replyTo);
    }
  }

  async upload(file) {
    const max = Number(app.config.max_upload_bytes) || DEFAULT_MAX_UPLOAD;
    if (file.size > max) {
      this.toast(t("upload_too_big", { mb: Math.round((max / (1024 * 1024)) * 10) / 10 }));
      return;
    }
    let data;
    try {
      data = await readBase64(file);
    } catch (err) {
      this.toast(t("send_failed", { error: err.message }));
      return;
    }
    const caption = this.input.value.trim();
    const body = {
      file_name: file.name || "file",
      data_base64: data,
      mime_type: file.type || "application/octet-stream",
    };
    if (caption && !caption.startsWith("/")) body.caption = caption;
    const path = this.isGroup ? `/__emu/groups/${this.chatId}/upload` : `/__emu/users/${this.userId}/upload`;
    if (this.isGroup) Object.assign(body, { user_id: this.userId, thread_id: this.isForum ? this.threadId : null });
    try {
      await this.serial(() => api(path, body));
      if (body.caption) {
        this.input.value = "";
        this.autosize();
      }
      this.stick = true;
    } catch (err) {
      this.toast(t("send_failed", { error: err.message }));
    }
  }

  startReply(id) {
    const store = this.store();
    const target = store && store.msgs.get(id);
    if (!target) return;
    this.replyTo = id;
    const snip = this.snippet(target);
    const text = snip.key ? t(snip.key) : snip.text;
    tr(this.replyText, { text: "replying_to", title: "replying_to" }, { text: `${this.senderName(target)}: ${text}` });
    this.replyBar.hidden = false;
    this.input.focus({ preventScroll: true });
  }

  cancelReply() {
    this.replyTo = null;
    this.replyBar.hidden = true;
  }

  /* ---- composer, command menu -------------------------------------------------------- */

  autosize() {
    const el = this.input;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 132)}px`;
  }

  onInput() {
    this.autosize();
    const value = this.input.value;
    if (value.startsWith("/") && !/\s/.test(value)) this.openMenu(value.slice(1), false);
    else if (this.menuOpen && !this.menuFromButton) this.closeMenu();
  }

  onKeyDown(ev) {
    if (ev.isComposing || ev.keyCode === 229) return; // an IME (pinyin) is composing
    if (this.menuOpen && this.menuItems.length) {
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        const n = this.menuItems.length;
        this.menuIndex = ev.key === "ArrowDown" ? (this.menuIndex + 1) % n : (this.menuIndex - 1 + n) % n;
        this.highlightMenu();
        return;
      }
      if ((ev.key === "Enter" && !ev.shiftKey) || ev.key === "Tab") {
        if (this.menuIndex >= 0) {
          ev.preventDefault();
          this.chooseCommand(this.menuItems[this.menuIndex]);
          return;
        }
      }
    }
    if (ev.key === "Escape") {
      if (this.menuOpen) this.closeMenu();
      else if (this.replyTo) this.cancelReply();
      return;
    }
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      this.submit();
    }
  }

  openMenu(filter, fromButton) {
    this.menuFilter = String(filter || "").toLowerCase();
    this.menuFromButton = fromButton;
    this.menuOpen = true;
    this.menuIndex = -1;
    this.renderMenu();
    if (fromButton) this.loadCommands();
  }

  renderMenu() {
    const items = this.commands.filter((c) => String(c.command).toLowerCase().startsWith(this.menuFilter || ""));
    if (!items.length && !this.menuFromButton) {
      this.menu.hidden = true;
      this.menuItems = [];
      return;
    }
    this.menuItems = items;
    if (this.menuIndex >= items.length) this.menuIndex = -1;
    const nodes = items.map((c, index) => {
      const el = h(
        "button",
        { type: "button", class: "cmd-item", role: "option", "data-testid": "command-item", "data-command": String(c.command) },
        h("span", { class: "cmd-name", text: `/${c.command}` }),
        h("span", { class: "cmd-desc", text: String(c.description || "") }),
      );
      el.addEventListener("mousedown", (ev) => ev.preventDefault()); // keep the textarea focused
      el.addEventListener("click", () => this.chooseCommand(c));
      el.addEventListener("mouseenter", () => {
        this.menuIndex = index;
        this.highlightMenu();
      });
      return el;
    });
    if (!nodes.length) nodes.push(tr(h("div", { class: "cmd-empty" }), { text: "no_commands" }));
    this.menuList.replaceChildren(...nodes);
    this.menu.hidden = false;
    this.cmdButton.classList.add("active");
    this.highlightMenu();
  }

  highlightMenu() {
    this.menuList.querySelectorAll(".cmd-item").forEach((el, i) => el.classList.toggle("active", i === this.menuIndex));
  }

  closeMenu() {
    this.menuOpen = false;
    this.menuItems = [];
    this.menuIndex = -1;
    this.menu.hidden = true;
    this.cmdButton.classList.remove("active");
  }

  chooseCommand(c) {
    this.input.value = `/${c.command}`;
    this.closeMenu();
    this.submit();
  }
}

function removeWithSeparator(el) {
  const prev = el.previousElementSibling;
  const next = el.nextElementSibling;
  el.remove();
  if (prev && prev.classList.contains("day-sep") && (!next || next.classList.contains("day-sep"))) prev.remove();
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onerror = () => reject(reader.error || new Error("read failed"));
    reader.onload = () => {
      const url = String(reader.result || "");
      resolve(url.slice(url.indexOf(",") + 1));
    };
    reader.readAsDataURL(file);
  });
}

/* ---------------------------------------------------------------------------------------- */
/* Traffic panel                                                                            */
/* ---------------------------------------------------------------------------------------- */

function callTouches(call, chatId) {
  if (Number(call.chat_id) === chatId && call.chat_id !== null && call.chat_id !== undefined) return true;
  return Array.isArray(call.updates) && call.updates.some((u) => u && Number(u.chat_id) === chatId);
}

function callKey(call) {
  return `${call.at}|${call.method}|${call.status}|${call.payload}`;
}

const traffic = {
  el: null,
  list: null,
  heading: null,
  chatId: null,
  keys: new Set(),
  loading: false,
  buffer: [],
  token: 0,

  init() {
    this.el = document.getElementById("traffic");
    this.list = document.getElementById("traffic-list");
    this.heading = document.getElementById("traffic-for");
    this.toggle = document.getElementById("traffic-toggle");
    this.toggle.addEventListener("click", () => {
      app.prefs.trafficCollapsed = !app.prefs.trafficCollapsed;
      savePrefs();
      this.applyCollapsed();
    });
    this.applyCollapsed();
  },

  applyCollapsed() {
    const collapsed = Boolean(app.prefs.trafficCollapsed);
    this.el.classList.toggle("collapsed", collapsed);
    const key = collapsed ? "traffic_expand" : "traffic_collapse";
    this.toggle.replaceChildren(icon(collapsed ? "chevronLeft" : "chevronRight"));
    tr(this.toggle, { title: key, aria: key });
    this.toggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
  },

  relabel() {
    const phone = app.phones[app.selected];
    if (!phone) {
      delete this.heading.dataset.i18n;
      this.heading.textContent = "";
      return;
    }
    const persona = phone.persona;
    tr(this.heading, { text: "traffic_for" }, { name: persona ? persona.name : String(phone.userId) });
  },

  async load() {
    const token = ++this.token;
    const phone = app.phones[app.selected];
    this.relabel();
    this.keys = new Set();
    this.buffer = [];
    if (!phone) {
      this.chatId = null;
      this.list.replaceChildren();
      return;
    }
    const chatId = phone.chatId;
    this.chatId = chatId;
    this.loading = true;
    this.list.replaceChildren(tr(h("div", { class: "traffic-empty is-loading" }), { text: "loading" }));
    let history = [];
    try {
      history = await api(`/__emu/calls?chat_id=${chatId}&limit=${MAX_TRAFFIC_ROWS}&brief=1`);
    } catch {
      history = [];
    }
    if (token !== this.token) return;
    const polls = app.liveCalls.filter((c) => c.method === "getUpdates" && callTouches(c, chatId));
    const done = (c) => (Number(c.at) || 0) + (Number(c.latency_ms) || 0) / 1000; // finish time = arrival order
    const all = [...(Array.isArray(history) ? history : []), ...polls, ...this.buffer].sort((a, b) => done(a) - done(b));
    this.loading = false;
    this.buffer = [];
    this.list.replaceChildren();
    const rows = [];
    for (const call of all) {
      const key = callKey(call);
      if (this.keys.has(key)) continue;
      this.keys.add(key);
      rows.push(call);
    }
    const frag = document.createDocumentFragment();
    for (const call of rows.slice(-MAX_TRAFFIC_ROWS).reverse()) frag.append(this.row(call));
    this.list.append(frag);
    this.updateEmpty();
  },

  onCall(call) {
    if (this.chatId === null || !callTouches(call, this.chatId)) return;
    if (this.loading) {
      this.buffer.push(call);
      return;
    }
    const key = callKey(call);
    if (this.keys.has(key)) return;
    this.keys.add(key);
    this.list.prepend(this.row(call));
    const rows = this.list.querySelectorAll('[data-testid="traffic-row"]');
    for (let i = MAX_TRAFFIC_ROWS; i < rows.length; i += 1) rows[i].remove();
    this.updateEmpty();
  },

  updateEmpty() {
    const empty = this.list.querySelector(".traffic-empty");
    const hasRows = Boolean(this.list.querySelector('[data-testid="traffic-row"]'));
    if (hasRows && empty) empty.remove();
    if (!hasRows && !empty) this.list.append(tr(h("div", { class: "traffic-empty" }), { text: "traffic_empty" }));
  },

  row(call) {
    const failed = Number(call.status) >= 400 || Boolean(call.error_description);
    const row = h("div", {
      class: `trow${failed ? " err" : ""}${call.method === "getUpdates" ? " poll" : ""}`,
      "data-testid": "traffic-row",
      "data-method": String(call.method || ""),
    });
    const latency = tr(h("span", { class: "t-lat" }), { text: "latency_ms" }, { ms: Number(call.latency_ms || 0).toFixed(1) });
    row.append(
      h(
        "div",
        { class: "t-line" },
        h("span", { class: "t-time", text: clockMs(Number(call.at) || 0) }),
        h("span", { class: "t-method", text: String(call.method || "") }),
        h("span", { class: `t-status${failed ? " bad" : ""}`, text: String(call.status) }),
        latency,
      ),
    );
    const payload = h("div", { class: "t-payload" });
    if (Array.isArray(call.updates) && this.chatId !== null) {
      const mine = call.updates.filter((u) => u && Number(u.chat_id) === this.chatId);
      for (const u of mine) payload.append(h("span", { class: "t-update", text: `${u.kind || "?"} #${u.update_id}` }));
    }
    if (call.payload) payload.append(h("span", { class: "t-params", text: String(call.payload) }));
    row.append(payload);
    const title = [String(call.payload || "")];
    if (call.error_description) {
      title.unshift(String(call.error_description));
      row.append(h("div", { class: "t-error", text: String(call.error_description) }));
    }
    row.title = title.filter(Boolean).join("\n");
    return row;
  },
};

/* ---------------------------------------------------------------------------------------- */
/* Page                                                                                     */
/* ---------------------------------------------------------------------------------------- */

function selectPhone(slot) {
  if (slot === app.selected && app.phones[slot] && app.phones[slot].root.classList.contains("selected")) return;
  app.selected = slot;
  app.prefs.selected = slot;
  savePrefs();
  for (const phone of app.phones) phone.root.classList.toggle("selected", phone.slot === slot);
  traffic.load();
}

function slotDefaults(slot) {
  const personas = app.config.personas || [];
  const defaults = Array.isArray(app.config.default_phones) ? app.config.default_phones : [];
  let user = Number(defaults[slot]);
  if (!app.personas.has(user)) user = personas.length ? Number(personas[slot % personas.length].user_id) : 0;
  const saved = Array.isArray(app.prefs.slots) ? app.prefs.slots[slot] : null;
  const result = { user, chat: "private", topic: "" };
  if (saved && app.personas.has(Number(saved.user))) {
    result.user = Number(saved.user);
    const chat = String(saved.chat || "private");
    if (chat === "private" || groupsOf(result.user).some((g) => String(g.chat_id) === chat)) {
      result.chat = chat;
      result.topic = saved.topic === undefined || saved.topic === null ? "" : String(saved.topic);
    }
  }
  return result;
}

function setPhoneCount(count) {
  const n = Math.min(4, Math.max(1, Number(count) || 4));
  app.prefs.count = n;
  savePrefs();
  const container = document.getElementById("phones");
  const created = [];
  while (app.phones.length > n) app.phones.pop().destroy();
  while (app.phones.length < n) {
    const phone = new Phone(app.phones.length, slotDefaults(app.phones.length));
    app.phones.push(phone);
    container.append(phone.root);
    created.push(phone.ready);
  }
  document.getElementById("phone-count").value = String(n);
  document.body.dataset.phones = String(n);
  const selected = app.selected < n ? app.selected : 0;
  app.selected = -1; // force re-selection (highlight + traffic)
  selectPhone(selected);
  return created;
}

function setLocale(code) {
  const locales = (app.config.ui_locales || []).map((l) => l.code);
  app.locale = locales.includes(code) ? code : app.config.default_ui_locale || locales[0] || "en";
  app.prefs.locale = app.locale;
  savePrefs();
  document.documentElement.lang = localeTag();
  const title = t("page_title");
  document.title = title === "page_title" ? PRODUCT_NAME : title;
  document.getElementById("page-title").textContent = title;
  document.getElementById("ui-lang").value = app.locale;
  applyAll(document);
  for (const phone of app.phones) phone.relabel();
  traffic.relabel();
  fillTour();
  setConnection(app.events && app.events.readyState === EventSource.OPEN);
}

function fillTour() {
  const steps = (app.config.tour && app.config.tour[app.locale]) || [];
  document.getElementById("tour-steps").replaceChildren(...steps.map((s) => h("li", { text: String(s) })));
}

function setConnection(open) {
  const conn = document.getElementById("conn");
  conn.dataset.state = open ? "open" : "closed";
  const label = document.getElementById("conn-label");
  tr(label, { text: open ? "connection_open" : "connection_lost" });
  conn.title = label.textContent;
}

function buildChrome() {
  for (const el of document.querySelectorAll("[data-icon]")) el.replaceChildren(icon(el.dataset.icon));
  const uiLang = document.getElementById("ui-lang");
  uiLang.replaceChildren(...(app.config.ui_locales || []).map((l) => h("option", { value: l.code, text: l.label })));
  uiLang.addEventListener("change", () => setLocale(uiLang.value));
  const count = document.getElementById("phone-count");
  count.addEventListener("change", () => setPhoneCount(count.value));

  const dialog = document.getElementById("tour-dialog");
  document.getElementById("tour-button").addEventListener("click", () => {
    fillTour();
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
  });
  const close = () => (typeof dialog.close === "function" ? dialog.close() : dialog.removeAttribute("open"));
  document.getElementById("tour-close").addEventListener("click", close);
  document.getElementById("tour-x").addEventListener("click", close);
  dialog.addEventListener("click", (ev) => {
    if (ev.target === dialog) close(); // a click on the backdrop
  });

  document.addEventListener("pointerdown", (ev) => {
    for (const phone of app.phones) {
      if (phone.menuOpen && !phone.menu.contains(ev.target) && !phone.cmdButton.contains(ev.target) && ev.target !== phone.input) {
        phone.closeMenu();
      }
    }
  });
  traffic.init();
}

async function refreshUserLanguages() {
  try {
    const info = await api("/__emu/info");
    for (const user of (info && info.users) || []) app.userLang.set(Number(user.id), user.language_code || null);
  } catch {
    /* fall back to the personas' configured languages */
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Live events                                                                              */
/* ---------------------------------------------------------------------------------------- */

const HANDLERS = {
  message: (d) => dispatchMessageEvent("message", d),
  edit: (d) => dispatchMessageEvent("edit", d),
  delete: (d) => dispatchMessageEvent("delete", d),
  callback_answer: (d) => {
    app.answered.add(d.callback_query_id);
    if (app.answered.size > 500) app.answered.delete(app.answered.values().next().value);
    for (const phone of app.phones) {
      if (phone.userId === Number(d.user_id) && phone.chatId === Number(d.chat_id)) phone.onCallbackAnswer(d);
    }
  },
  api_call: (d) => {
    app.liveCalls.push(d);
    if (app.liveCalls.length > MAX_LIVE_CALLS) app.liveCalls.splice(0, app.liveCalls.length - MAX_LIVE_CALLS);
    traffic.onCall(d);
  },
  user: (d) => {
    const user = d && d.user;
    if (!user || typeof user.id !== "number") return;
    const before = app.userLang.get(user.id);
    app.userLang.set(user.id, user.language_code || null);
    for (const phone of app.phones) {
      if (phone.userId !== user.id) continue;
      phone.fillLanguages();
      if (before !== (user.language_code || null)) phone.loadCommands();
    }
  },
  chat_action: (d) => {
    for (const phone of app.phones) if (phone.chatId === Number(d.chat_id)) phone.setTyping();
  },
  topic_created: (d) => onTopic(d),
  topic_edited: (d) => onTopic(d),
  update: (d) => {
    const update = d && d.update;
    if (update && (update.my_chat_member || update.chat_member)) scheduleConfigRefresh();
  },
};

function onTopic(d) {
  const chatId = Number(d.chat_id);
  const topics = app.topics.get(chatId);
  if (topics) topics.set(Number(d.message_thread_id), String(d.name || ""));
  for (const phone of app.phones) {
    if (phone.chatId !== chatId) continue;
    phone.fillTopics();
    phone.updateHeader();
  }
}

let configTimer = null;

function scheduleConfigRefresh() {
  clearTimeout(configTimer);
  configTimer = setTimeout(refreshConfig, 300);
}

function indexConfig(config) {
  app.config = config;
  app.personas = new Map();
  for (const p of config.personas || []) {
    app.personas.set(Number(p.user_id), p);
    if (p.language_code && !app.userLang.has(Number(p.user_id))) app.userLang.set(Number(p.user_id), p.language_code);
  }
  app.groups = new Map();
  for (const g of config.groups || []) app.groups.set(Number(g.chat_id), g);
}

/** Groups the bot is in (and their members) can change while the page is open. */
async function refreshConfig() {
  let config;
  try {
    config = await api("/__ui/config");
  } catch {
    return;
  }
  if (!config || !Array.isArray(config.personas) || !config.strings) return;
  indexConfig(config);
  for (const phone of app.phones) {
    if (phone.isGroup && !groupsOf(phone.userId).some((g) => String(g.chat_id) === phone.chatKey)) {
      phone.changeChat("private");
      continue;
    }
    phone.fillPersonas();
    phone.fillChats();
    phone.fillTopics();
    phone.updateHeader();
  }
}

function reloadEverything() {
  for (const [chatId, store] of app.stores) {
    if (app.phones.some((p) => p.chatId === chatId)) {
      store.loaded = false;
      store.loading = null;
      store.gen += 1;
    } else app.stores.delete(chatId);
  }
  app.topics.clear();
  app.topicLoads.clear();
  refreshConfig();
  refreshUserLanguages().then(() => {
    for (const phone of app.phones) phone.fillLanguages();
  });
  for (const phone of app.phones) phone.open();
  traffic.load();
}

function connectEvents() {
  return new Promise((resolve) => {
    const source = new EventSource("/__emu/events");
    app.events = source;
    let first = true;
    source.addEventListener("open", () => {
      setConnection(true);
      if (app.lostConnection) {
        app.lostConnection = false;
        reloadEverything(); // events during the gap are lost: fetch everything again
      }
      if (first) {
        first = false;
        resolve();
      }
    });
    source.addEventListener("error", () => {
      if (app.events !== source) return;
      setConnection(false);
      app.lostConnection = true;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. the server answered with an error): try again later.
        setTimeout(() => {
          if (app.events === source) connectEvents();
        }, RECONNECT_MS);
      }
    });
    for (const [type, handler] of Object.entries(HANDLERS)) {
      source.addEventListener(type, (ev) => {
        let data;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return;
        }
        handler(data);
      });
    }
  });
}

/* ---------------------------------------------------------------------------------------- */
/* Start                                                                                    */
/* ---------------------------------------------------------------------------------------- */

async function main() {
  let config;
  try {
    config = await api("/__ui/config");
  } catch (err) {
    const boot = document.getElementById("boot");
    if (boot) boot.replaceChildren(h("div", { class: "boot-error", text: `${PRODUCT_NAME}: ${err.message}` }));
    return;
  }
  indexConfig(config);
  buildChrome();
  const localeCodes = (config.ui_locales || []).map((l) => l.code);
  app.locale = localeCodes.includes(app.prefs.locale) ? app.prefs.locale : config.default_ui_locale || localeCodes[0] || "en";
  setLocale(app.locale);
  setConnection(false);

  const eventsOpen = connectEvents();
  await refreshUserLanguages();
  const boot = document.getElementById("boot");
  if (boot) boot.remove();
  app.selected = Number.isInteger(app.prefs.selected) ? app.prefs.selected : 0;
  const phonesReady = setPhoneCount(app.prefs.count || 4);
  await Promise.all([...phonesReady, eventsOpen]);
  document.body.dataset.ready = "1";
}

main();
