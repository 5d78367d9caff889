// The editors' page: sends each chosen file to POST /v1/scan and shows the verdict and where each finding is.
// Everything in a report came from an upload (names, contexts): it goes into the page as text, never as HTML.
"use strict";

const VERDICTS = { pass: "可以发布", flag: "需人工审核", block: "禁止发布" };
const CATEGORIES = {
  "state-secret": "国家秘密标志",
  "work-secret": "工作秘密标志",
  "commercial-secret": "商业秘密",
  internal: "内部资料",
  "personal-data": "个人信息",
  roster: "人员名册",
  unscannable: "无法检查",
  image: "图片未检查",
};
const UNSCANNABLE = {
  encrypted: "文件已加密（设有密码），无法检查其内容",
  corrupt: "文件已损坏，无法完整读取",
  unsupported: "不支持的文件格式",
  garbled: "文字是乱码，无法判断内容",
  "no-text": "文件中没有可读的文字",
  crash: "读取文件时解析程序出错",
  seconds: "读取文件超时",
  memory_mb: "读取文件所需内存超过限制",
  max_bytes: "文件超过大小限制",
  max_total_bytes: "解压后的内容超过大小限制",
  max_depth: "压缩包嵌套层数过多",
  max_ratio: "压缩比异常（疑似压缩炸弹）",
  max_members: "压缩包内文件过多",
  xml_entities: "文件含有可疑的 XML 实体声明",
  unreadable: "无法读取文件",
  "internal-error": "检查程序内部错误",
  image: "图片内容未检查",
};
const PARTS = { body: "正文", filename: "文件名", file: "整个文件", title: "标题", metadata: "文档属性" };
const PART_PREFIXES = [
  ["header", "页眉"],
  ["footer", "页脚"],
  ["footnote", "脚注"],
  ["endnote", "尾注"],
  ["comment", "批注"],
  ["slide", "幻灯片"],
  ["sheet", "工作表"],
  ["notes", "备注"],
];
const PARALLEL = 3;

const queue = [];
let running = 0;
let token = sessionStorage.getItem("baomi-token") || "";
const counts = { pass: 0, flag: 0, block: 0, error: 0 };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function sizeText(bytes) {
  if (bytes >= 1024 * 1024) return (bytes / 1024 / 1024).toFixed(1) + " MB";
  if (bytes >= 1024) return (bytes / 1024).toFixed(1) + " KB";
  return bytes + " 字节";
}

function partText(part) {
  return String(part)
    .split("!")
    .map((piece) => {
      if (PARTS[piece]) return PARTS[piece];
      const prefix = PART_PREFIXES.find(([p]) => piece.startsWith(p));
      return prefix ? `${prefix[1]}（${piece}）` : piece;
    })
    .join(" › ");
}

function whereText(location) {
  const bits = [];
  if (location.page) bits.push(`第 ${location.page} 页`);
  bits.push(partText(location.part || "file"));
  if (location.line > 0) bits.push(`第 ${location.line} 行` + (location.column > 0 ? `第 ${location.column} 列` : ""));
  return bits.join(" · ");
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
  const reason = finding.rule && finding.rule.startsWith("unscannable.") ? finding.rule.slice(12) : "";
  what.append(
    el("span", "category", CATEGORIES[finding.category] || finding.category),
    el("span", `verdict ${finding.action}`, VERDICTS[finding.action] || finding.action),
    el("span", "where", whereText(finding.location || {})),
  );
  item.append(what);
  if (finding.category === "unscannable") {
    item.append(el("p", "why", UNSCANNABLE[reason] || "文件无法完整读取，不能放行"));
  }
  const context = contextNode(finding);
  if (context) item.append(context);
  if (finding.explanation) item.append(el("p", "explanation", finding.explanation));
  item.append(el("p", "rule", finding.rule));
  return item;
}

function showReport(card, report) {
  card.className = `file ${report.verdict}`;
  card.replaceChildren();
  const head = el("div", "head");
  const meta = [report.format, sizeText(report.size || 0), report.encoding].filter(Boolean).join(" · ");
  head.append(el("span", `verdict ${report.verdict}`, VERDICTS[report.verdict]), el("span", "name", report.path));
  head.append(el("span", "meta", meta));
  card.append(head);
  const findings = report.findings || [];
  if (findings.length === 0) {
    card.append(el("p", "note", "未发现需要处理的内容。"));
  } else {
    card.append(el("p", "note", `发现 ${findings.length} 处需要注意的内容：`));
    const list = el("ol", "findings");
    findings.forEach((f) => list.append(findingNode(f)));
    card.append(list);
  }
  if ((report.errors || []).length) {
    const errors = el("div", "errors");
    errors.append(el("p", null, "未能完整读取的原因："));
    const list = el("ul");
    report.errors.forEach((e) => list.append(el("li", null, e)));
    errors.append(list);
    card.append(errors);
  }
  counts[report.verdict] += 1;
}

function showError(card, name, message) {
  card.className = "file error";
  card.replaceChildren();
  const head = el("div", "head");
  head.append(el("span", "verdict error", "未检查"), el("span", "name", name));
  card.append(head, el("p", "note", message + "。此文件未经检查，不能视为可以发布。"));
  counts.error += 1;
}

function showSummary() {
  const total = counts.pass + counts.flag + counts.block + counts.error;
  const text = [`已检查 ${total - counts.error} 个文件`];
  for (const v of ["pass", "flag", "block"]) if (counts[v]) text.push(`${VERDICTS[v]} ${counts[v]} 个`);
  if (counts.error) text.push(`未检查 ${counts.error} 个`);
  document.getElementById("summary").textContent = text.join("，") + (running || queue.length ? "，检查中……" : "。");
}

async function scan(job) {
  const body = new FormData();
  body.append("file", job.file, job.file.name);
  const headers = token ? { Authorization: "Bearer " + token } : {};
  let response;
  try {
    response = await fetch("/v1/scan", { method: "POST", body, headers });
  } catch (err) {
    showError(job.card, job.file.name, "无法连接检查服务");
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
    job.card.querySelector(".note").textContent = "需要访问令牌：请在上方输入后重试。";
    waiting.push(job);
    return;
  }
  if (response.ok && answer && answer.files && answer.files.length) {
    showReport(job.card, answer.files[0]);
  } else {
    const message = answer && answer.message ? answer.message : `检查服务返回错误（HTTP ${response.status}）`;
    showError(job.card, job.file.name, message);
  }
}

const waiting = [];

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

function add(files) {
  const batch = document.createDocumentFragment(); // newest batch on top, its files in the order chosen
  for (const file of files) {
    const card = el("li", "file pending");
    const head = el("div", "head");
    head.append(el("span", "verdict pending", "检查中"), el("span", "name", file.name));
    card.append(head, el("p", "note", "正在检查……"));
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
