// The editors' page: sends each chosen file to POST /v1/scan and shows the verdict and where each finding is.
// Everything in a report came from an upload (names, contexts): it goes into the page as text, never as HTML.
// Its words are in the reader's language: t and tn look each up in the catalog GET /v1/messages gives for the
// language the browser asks for (Accept-Language), which also names categories, problems, parts and formats.
"use strict";

const PARALLEL = 3;

let catalog = { messages: {}, categories: {}, problems: {}, parts: {}, part_prefixes: {}, formats: {} };
const loaded = fetch("/v1/messages")
  .then((response) => (response.ok ? response.json() : null))
  .then((answer) => {
    if (answer) catalog = answer;
  })
  .catch(() => {}); // the page still works, in the words of its message ids (English)

const queue = [];
const waiting = [];
let running = 0;
let token = sessionStorage.getItem("baomi-token") || "";
const counts = { pass: 0, flag: 0, block: 0, error: 0 };

function fill(text, values) {
  return String(text).replace(/\{(\w+)\}/g, (field, name) => (values && name in values ? String(values[name]) : field));
}

// A message of the page in the reader's language, its {fields} filled.
function t(id, values) {
  const found = catalog.messages[id];
  return fill(typeof found === "string" ? found : id, values);
}

// A message with a plural: the catalog gives its forms for one and for more (the same form twice in Chinese).
function tn(singular, plural, count, values) {
  const forms = catalog.messages[singular];
  const text = Array.isArray(forms) ? forms[count === 1 ? 0 : 1] : count === 1 ? singular : plural;
  return fill(text, { count, ...values });
}

function verdictText(verdict) {
  const words = { pass: t("May be published"), flag: t("Needs review"), block: t("Must not be published") };
  return words[verdict] || verdict;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function sizeText(bytes) {
  if (bytes >= 1024 * 1024) return (bytes / 1024 / 1024).toFixed(1) + " MB";
  if (bytes >= 1024) return (bytes / 1024).toFixed(1) + " KB";
  return tn("{count} byte", "{count} bytes", bytes);
}

function partText(part) {
  return String(part)
    .split("!")
    .map((piece) => {
      if (catalog.parts[piece]) return catalog.parts[piece];
      const prefix = Object.keys(catalog.part_prefixes).find((p) => piece.startsWith(p));
      return prefix ? t("{part} ({name})", { part: catalog.part_prefixes[prefix], name: piece }) : piece;
    })
    .join(" › ");
}

function whereText(location) {
  const bits = [];
  if (location.page) bits.push(t("page {page}", { page: location.page }));
  bits.push(partText(location.part || "file"));
  if (location.line > 0) {
    const line = { line: location.line, column: location.column };
    bits.push(location.column > 0 ? t("line {line}, column {column}", line) : t("line {line}", line));
  }
  return bits.join(" · ");
}

// Why a file could not be checked, from the rule of its finding: unscannable.encrypted → encrypted,
// image.not-examined → image.
function problemText(rule) {
  const [category, reason] = String(rule).split(".", 2);
  return catalog.problems[reason === "not-examined" ? category : reason];
}

function contextNode(finding) {
  const box = el("div", "context");
  const context = finding.context || "";
  const match = finding.text || "";
  const at = match ? context.indexOf(match) : -1;
  if (at >= 0) {
    box.append(context.slice(0, at), el("mark", null, match), context.slice(at + match.length));
  } else if (context) {
    box.append(context);
    if (match) box.append(" ", el("mark", null, match));
  } else if (match) {
    box.append(el("mark", null, match));
  } else {
    return null;
  }
  return box;
}

function findingNode(finding) {
  const item = el("li", `finding ${finding.action}`);
  const what = el("div", "what");
  what.append(
    el("span", "category", catalog.categories[finding.category] || finding.category),
    el("span", `verdict ${finding.action}`, verdictText(finding.action)),
    el("span", "where", whereText(finding.location || {})),
  );
  item.append(what);
  const problem = ["unscannable", "image", "damaged"].includes(finding.category) ? problemText(finding.rule) : "";
  if (problem) item.append(el("p", "why", problem));
  const context = contextNode(finding);
  if (context) item.append(context);
  if (finding.message) item.append(el("p", "explanation", finding.message));
  item.append(el("p", "rule", finding.rule));
  return item;
}

function showReport(card, report) {
  card.className = `file ${report.verdict}`;
  card.replaceChildren();
  const head = el("div", "head");
  const format = catalog.formats[report.format] || report.format;
  const meta = [format, sizeText(report.size || 0), report.encoding].filter(Boolean).join(" · ");
  head.append(el("span", `verdict ${report.verdict}`, verdictText(report.verdict)), el("span", "name", report.path));
  head.append(el("span", "meta", meta));
  card.append(head);
  const findings = report.findings || [];
  if (findings.length === 0) {
    card.append(el("p", "note", t("Nothing was found that needs attention.")));
  } else {
    card.append(el("p", "note", tn("{count} thing needs attention:", "{count} things need attention:", findings.length)));
    const list = el("ol", "findings");
    findings.forEach((f) => list.append(findingNode(f)));
    card.append(list);
  }
  counts[report.verdict] += 1;
}

function showError(card, name, message) {
  card.className = "file error";
  card.replaceChildren();
  const head = el("div", "head");
  head.append(el("span", "verdict error", t("Not checked")), el("span", "name", name));
  const note = t("{reason} This file was not checked, so it may not be published as it is.", { reason: message });
  card.append(head, el("p", "note", note));
  counts.error += 1;
}

function showSummary() {
  const checked = counts.pass + counts.flag + counts.block;
  const parts = [tn("{count} file checked", "{count} files checked", checked)];
  for (const v of ["pass", "flag", "block"]) {
    if (counts[v]) parts.push(t("{verdict}: {count}", { verdict: verdictText(v), count: counts[v] }));
  }
  if (counts.error) parts.push(t("{verdict}: {count}", { verdict: t("Not checked"), count: counts.error }));
  const busy = running || queue.length;
  const text = parts.join(t(", "));
  document.getElementById("summary").textContent = busy ? t("{summary}; checking…", { summary: text }) : t("{summary}.", { summary: text });
}

async function scan(job) {
  await loaded;
  const body = new FormData();
  body.append("file", job.file, job.file.name);
  const headers = token ? { Authorization: "Bearer " + token } : {};
  let response;
  try {
    response = await fetch("/v1/scan", { method: "POST", body, headers });
  } catch (err) {
    showError(job.card, job.file.name, t("The checking service cannot be reached."));
    return;
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch (err) {
    answer = null;
  }
  if (response.status === 401) {
    document.getElementById("token-form").hidden = false;
    job.card.querySelector(".note").textContent = t("An access token is needed: enter it above and try again.");
    waiting.push(job);
    return;
  }
  if (response.ok && answer && answer.files && answer.files.length) {
    showReport(job.card, answer.files[0]);
  } else {
    const fallback = t("The checking service answered with an error (HTTP {status}).", { status: response.status });
    showError(job.card, job.file.name, answer && answer.message ? answer.message : fallback);
  }
}

function pump() {
  while (running < PARALLEL && queue.length) {
    const job = queue.shift();
    running += 1;
    scan(job).finally(() => {
      running -= 1;
      showSummary();
      pump();
    });
  }
  showSummary();
}

async function add(files) {
  await loaded;
  const batch = document.createDocumentFragment(); // newest batch on top, its files in the order chosen
  for (const file of files) {
    const card = el("li", "file pending");
    const head = el("div", "head");
    head.append(el("span", "verdict pending", t("Checking")), el("span", "name", file.name));
    card.append(head, el("p", "note", t("Checking…")));
    batch.append(card);
    queue.push({ file, card });
  }
  document.getElementById("results").prepend(batch);
  pump();
}

document.addEventListener("DOMContentLoaded", () => {
  const drop = document.getElementById("drop");
  const input = document.getElementById("files");
  input.addEventListener("change", () => {
    add(Array.from(input.files));
    input.value = "";
  });
  for (const kind of ["dragenter", "dragover"]) {
    drop.addEventListener(kind, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const kind of ["dragleave", "drop"]) {
    drop.addEventListener(kind, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    add(Array.from(event.dataTransfer.files));
  });
  // A file dropped beside the box should not make the browser navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") input.click();
  });
  const form = document.getElementById("token-form");
  document.getElementById("token").value = token;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    token = document.getElementById("token").value.trim();
    sessionStorage.setItem("baomi-token", token);
    form.hidden = true;
    queue.push(...waiting.splice(0));
    pump();
  });
});
