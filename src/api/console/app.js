// slacap's console: a page per task over the same /api/v1 a script uses. No build step, no
// third-party code; every value reaches the page through textContent, never as markup.
"use strict";

const TOKEN_KEY = "slacap.token";
const main = () => document.getElementById("main");

// ---- sign-in and API access ------------------------------------------------------------------

// `#token=T` signs in and opens the overview; `#/capacity?token=T` opens that page. The
// fragment never reaches the server, and the token is removed from the address bar at once.
function takeTokenFromFragment() {
  const match = location.hash.match(/[#?&]token=([^&]+)/);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  let rest = location.hash.replace(match[0], match[0][0] === "#" ? "#" : "").replace(/[?&]$/, "");
  if (rest === "#" || rest === "") rest = "#/";
  history.replaceState(null, "", location.pathname + rest);
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    session = null;
    render();
    throw new ApiError(401, "the token was not accepted");
  }
  if (!response.ok) {
    let message = response.statusText;
    try {
      message = (await response.json()).error || message;
    } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, message);
  }
  return options.raw ? response : response.json();
}

// ---- DOM helpers -------------------------------------------------------------------------------

function h(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function table(headers, rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell) =>
      cell instanceof Node && cell.tagName === "TD" ? cell : h("td", {}, cell))))));
}

const num = (text, cls) => h("td", { class: "num " + (cls || "") }, text);
const pct = (x, digits = 3) => (x === null || x === undefined ? "–" : (100 * x).toFixed(digits) + " %");
const fixed = (x, digits = 2) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
const day = (t) => (t ? t.slice(0, 10) : "–");
const when = (t) => (t ? t.replace("T", " ").replace("Z", "") : "–");
const link = (href, text) => h("a", { href }, text);

function show(...nodes) {
  main().replaceChildren(...nodes);
}

function failure(error) {
  return h("p", { class: "error", role: "alert" }, "Could not load: " + error.message);
}

async function download(path, filename) {
  const response = await api(path, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const anchor = h("a", { href: url, download: filename });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function currentMonth(asOf) {
  return (asOf || new Date().toISOString()).slice(0, 7);
}

// The month the stream's watermark is in: the default month of reports.
async function watermarkMonth() {
  const services = await api("/api/v1/services");
  if (!services.length) return currentMonth(null);
  const sla = await api("/api/v1/services/" + encodeURIComponent(services[0].id) + "/sla");
  return currentMonth(sla.as_of);
}

// ---- session -----------------------------------------------------------------------------------

let session = null;
const ROLES = ["viewer", "reviewer", "admin"];
const mayReview = () => session && ROLES.indexOf(session.role) >= 1;

function signIn() {
  const input = h("input", { type: "password", id: "token", autocomplete: "off", size: 50 });
  const form = h("form", {
    class: "review", id: "sign-in",
    onsubmit: (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      render();
    },
  },
  h("h1", {}, "Sign in"),
  h("p", { class: "muted" }, "Paste an API token (the demo prints one per role). It is kept in this tab's session storage only."),
  h("label", {}, "API token", input),
  h("div", {}, h("button", { type: "submit" }, "Sign in")));
  show(form);
  document.getElementById("who").textContent = "";
}

// ---- pages -------------------------------------------------------------------------------------

async function overview(params) {
  const windowKind = params.get("window") || "month";
  const only = params.get("service") || "";
  const services = await api("/api/v1/services");
  const chosen = services.filter((s) => !only || s.id === only);
  // Windows are named from the watermark's date (the month the figures are "as of"), not the
  // browser's clock: a replayed or lagging stream is still shown in its own month.
  const windowFor = (asOf) => {
    if (windowKind === "quarter") {
      const month = Number(asOf.slice(5, 7));
      return "quarter:" + asOf.slice(0, 4) + "-Q" + (Math.floor((month - 1) / 3) + 1);
    }
    return windowKind === "rolling" ? "rolling:30d" : null;
  };
  const details = await Promise.all(chosen.map(async (service) => {
    const base = "/api/v1/services/" + encodeURIComponent(service.id) + "/sla";
    const [monthly, breaches, burns] = await Promise.all([
      api(base),
      api("/api/v1/breaches?service=" + encodeURIComponent(service.id)),
      api("/api/v1/burn-rate-alerts?service=" + encodeURIComponent(service.id)),
    ]);
    const other = windowFor(monthly.as_of || new Date().toISOString());
    const sla = other ? await api(base + "?window=" + encodeURIComponent(other)) : monthly;
    return { service, sla, month: currentMonth(monthly.as_of), breaches, burns };
  }));
  const burnState = (burns, slo) => {
    const last = burns.filter((b) => b.slo === slo).pop();
    return last ? last.state : "quiet";
  };
  const rows = [];
  for (const { service, sla, month, breaches, burns } of details) {
    const thisMonth = breaches.filter((b) => (b.detected_at || "").startsWith(month)).length;
    for (const a of sla.availability) {
      const trend = (a.slo_windows || []).map((w) => w.window + " " + pct(w.attained, 2)).join(" · ");
      rows.push([
        link("#/service/" + encodeURIComponent(service.id), service.name || service.id),
        a.slo,
        num(pct(a.target, 2)),
        num(pct(a.attained), a.met ? "ok" : "bad"),
        num(pct(a.error_budget_remaining, 1), a.error_budget_remaining < 0 ? "bad" : ""),
        h("td", { class: "muted" }, trend),
        h("td", { class: burnState(burns, a.slo) === "firing" ? "bad" : "" }, burnState(burns, a.slo)),
        num(thisMonth),
      ]);
    }
  }
  const select = (name, value, options) => h("select", {
    name,
    onchange: (event) => {
      params.set(name, event.target.value);
      location.hash = "#/?" + params.toString();
    },
  }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
  show(
    h("h1", {}, "Overview"),
    h("div", { class: "controls" },
      h("label", {}, "Service", select("service", only, [["", "every service"]].concat(services.map((s) => [s.id, s.name || s.id])))),
      h("label", {}, "Window", select("window", windowKind, [["month", "this month"], ["quarter", "this quarter"], ["rolling", "rolling 30 days"]]))),
    table(["Service", "SLO", "Target", "Attained", "Budget left", "Trend (month · quarter · 30 days)", "Burn rate", "Breaches this month"], rows),
    h("p", { class: "muted" }, "Window: " + (details.length ? day(details[0].sla.window.start) + " to " + day(details[0].sla.window.end) : "–")
      + "; figures as of the stream's watermark" + (details.length ? ", " + when(details[0].sla.as_of) : "") + " (UTC)."),
  );
}

async function service(id) {
  const [services, sla, breaches] = await Promise.all([
    api("/api/v1/services"),
    api("/api/v1/services/" + encodeURIComponent(id) + "/sla"),
    api("/api/v1/breaches?service=" + encodeURIComponent(id)),
  ]);
  const entry = services.find((s) => s.id === id) || { id };
  const availability = sla.availability.map((a) => [
    a.slo, a.sli, num(pct(a.target, 2)), num(pct(a.attained), a.met ? "ok" : "bad"),
    num(pct(a.error_budget_remaining, 1), a.error_budget_remaining < 0 ? "bad" : ""),
    num(a.excluded_seconds === undefined ? "–" : a.excluded_seconds + " s"),
    num(a.no_data_seconds === undefined ? "–" : a.no_data_seconds + " s"),
  ]);
  const tickets = sla.tickets.map((t) => [
    t.type, t.priority, t.metric, num(t.target_seconds + " s"), num(t.count), num(t.met),
    num(t.breached, t.breached ? "bad" : ""), num(t.in_flight), num(pct(t.attainment, 1)),
  ]);
  const charts = await availabilityCharts(id, sla, breaches).catch((error) => [failure(error)]);
  show(
    h("h1", {}, (entry.name || id) + " "),
    h("p", { class: "muted" }, "Owner " + (entry.owner || "–") + " · agreement " + JSON.stringify(entry.agreement || "–")),
    h("h2", {}, "Availability (" + day(sla.window.start) + " to " + day(sla.window.end) + ", as of " + when(sla.as_of) + ")"),
    table(["SLO", "SLI", "Target", "Attained", "Budget left", "Excluded (maintenance)", "No data"], availability),
    h("div", { class: "cards", id: "availability-charts" }, charts),
    h("h2", {}, "Ticket clocks"),
    table(["Type", "Priority", "Clock", "Target", "Count", "Met", "Breached", "In flight", "Attainment"], tickets),
    h("h2", {}, "Breaches"),
    table(["Breach", "Kind", "Detected", "Observed", "Target"], breaches.map((b) => [
      link("#/breach/" + encodeURIComponent(b.id), b.id), b.kind, when(b.detected_at), num(fixed(b.observed, 5)), num(fixed(b.target, 5)),
    ])),
    h("h2", {}, "Catalogue entry"),
    table(["Components", "Dependencies", "SLOs"], [[
      JSON.stringify(entry.components || []), JSON.stringify(entry.dependencies || []), JSON.stringify(entry.slos || []),
    ]]),
  );
}

// Per SLO: daily attainment (breach days and maintenance exclusions marked) and the error
// budget burning down, from the history's availability slices over the SLA window.
async function availabilityCharts(id, sla, breaches) {
  const quote = (text) => "'" + String(text).replace(/'/g, "''") + "'";
  const query = "SELECT date, slo, sli, "
    + "sum(CASE WHEN sli = 'ratio' THEN good WHEN state = 'good' THEN CAST(slice_seconds AS DOUBLE) ELSE 0 END) AS good, "
    + "sum(CASE WHEN sli = 'ratio' THEN total WHEN state IN ('good', 'bad') THEN CAST(slice_seconds AS DOUBLE) ELSE 0 END) AS total, "
    + "sum(excluded_seconds) AS excluded FROM availability_slices "
    + "WHERE service = " + quote(id) + " AND date >= " + quote(day(sla.window.start)) + " AND date < " + quote(day(sla.window.end))
    + " GROUP BY date, slo, sli ORDER BY date";
  const result = await api("/api/v1/query", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sql: query, format: "json" }),
  });
  const out = [];
  for (const a of sla.availability) {
    const rows = result.rows.filter((r) => r[1] === a.slo);
    const breachDays = new Set(breaches.filter((b) => b.slo === a.slo).map((b) => day(b.detected_at)));
    const days = rows.map((r) => ({
      date: r[0], attained: r[4] > 0 ? r[3] / r[4] : null, excluded: r[5], breached: breachDays.has(r[0]),
    }));
    const windowTotal = rows.reduce((sum, r) => sum + r[4], 0);
    const budget = (1 - a.target) * windowTotal;
    let bad = 0;
    const burn = rows.map((r) => {
      bad += r[4] - r[3];
      return { date: r[0], remaining: budget > 0 ? 1 - bad / budget : 1 };
    });
    out.push(h("div", { class: "card" },
      attainmentChart(a.slo + ": attainment per day", a.target, days),
      burnDownChart(a.slo + ": error budget left", burn)));
  }
  return out;
}

async function breaches() {
  // One request: every breach with its review status, due date and trail.
  const details = (await api("/api/v1/reviews")).sort((a, b) => (a.breach.detected_at < b.breach.detected_at ? -1 : a.breach.detected_at > b.breach.detected_at ? 1 : 0));
  const rows = details.map((d) => [
    link("#/breach/" + encodeURIComponent(d.breach.id), d.breach.id),
    d.breach.service, d.breach.kind, when(d.breach.detected_at),
    h("td", { class: d.review_status === "open" ? "warn" : "ok" }, d.review_status),
    h("td", { class: d.review_overdue ? "bad" : "" }, when(d.review_due_by) + (d.review_overdue ? " (overdue)" : "")),
  ]);
  show(h("h1", {}, "Breach register"),
    h("p", { class: "muted" }, details.length + " breaches, oldest first."),
    table(["Breach", "Service", "Kind", "Detected", "Review", "Review due"], rows));
}

async function breach(id) {
  const detail = await api("/api/v1/breaches/" + encodeURIComponent(id));
  const b = detail.breach;
  const trail = detail.trail.map((e) => [
    num(e.seq), e.status + (e.corrects ? " (corrects " + e.corrects + ")" : ""), when(e.recorded_at), e.recorded_by, e.reviewer, e.decision || "",
    e.root_cause || "", (e.actions || []).map((a) => a.description + " (" + a.owner + ", " + a.due + ")").join("; "),
  ]);
  const nodes = [
    h("h1", {}, "Breach " + b.id),
    table(["Service", "Kind", "Detected", "Observed", "Target", "Review", "Due"], [[
      b.service, b.kind, when(b.detected_at), num(fixed(b.observed, 5)), num(fixed(b.target, 5)),
      detail.review_status, when(detail.review_due_by) + (detail.review_overdue ? " (overdue)" : ""),
    ]]),
    h("h2", {}, "Trail"),
    trail.length ? table(["Seq", "Status", "Recorded", "By", "Reviewer", "Decision", "Root cause", "Actions"], trail)
      : h("p", { class: "muted", id: "empty-trail" }, "No review recorded yet."),
  ];
  if (mayReview()) nodes.push(reviewForm(b.id));
  show(...nodes);
}

function reviewForm(id) {
  const field = (name, label, attributes = {}) => h("label", {}, label, h("input", Object.assign({ name }, attributes)));
  const message = h("p", { id: "review-message" });
  const form = h("form", {
    class: "review", id: "review-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const body = { reviewer: data.get("reviewer"), status: data.get("status") };
      for (const key of ["decision", "root_cause", "problem", "minutes"]) {
        if (data.get(key)) body[key] = data.get(key);
      }
      if (data.get("action")) {
        body.actions = [{ description: data.get("action"), owner: data.get("owner"), due: data.get("due") }];
      }
      try {
        await api("/api/v1/breaches/" + encodeURIComponent(id) + "/review", {
          method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
        });
        await breach(id);
      } catch (error) {
        message.className = "error";
        message.textContent = "Not recorded (" + error.status + "): " + error.message;
      }
    },
  },
  h("h2", {}, "Record a review"),
  field("reviewer", "Reviewer (name and role)", { required: true }),
  h("label", {}, "Status", h("select", { name: "status" },
    ["acknowledged", "reviewed", "closed"].map((s) => h("option", { value: s }, s)))),
  field("decision", "Decision"),
  field("root_cause", "Root cause"),
  field("action", "Action"),
  field("owner", "Action owner"),
  field("due", "Action due (YYYY-MM-DD)"),
  field("problem", "Problem record"),
  field("minutes", "Minutes reference"),
  h("div", {}, h("button", { type: "submit" }, "Record")),
  message);
  return form;
}

// The forecast accuracy behind a plan: every candidate's backtest (MASE below 1 beats seasonal
// naive's in-sample error; coverage of the nominal 90 % interval), the chosen one marked.
function candidateTable(p) {
  const rows = (p.candidates || []).map((c) => {
    const a = c.accuracy;
    const chosen = c.model === p.candidate;
    return [
      h("td", { class: chosen ? "ok" : "" }, c.model + (chosen ? " (chosen)" : "")),
      num(a ? fixed(a.mase, 3) : "not fitted"), num(a ? fixed(a.rmsse, 3) : ""), num(a ? pct(a.coverage, 0) : ""),
    ];
  });
  if (p.benchmark) {
    rows.push([h("td", {}, "seasonal naive (benchmark)"), num(fixed(p.benchmark.mase, 3)), num(fixed(p.benchmark.rmsse, 3)), num(pct(p.benchmark.coverage, 0))]);
  }
  return h("details", { class: "candidates", open: true },
    h("summary", {}, "Forecast accuracy: " + rows.length + " models backtested over " + (p.accuracy ? p.accuracy.origins : "?") + " origins"),
    table(["Model", "MASE", "RMSSE", "90 % coverage"], rows));
}

async function capacity(params) {
  const growth = params.get("growth") || "";
  const from = params.get("from") || "";
  const query = growth ? "?growth=" + encodeURIComponent(growth) + (from ? "&from=" + encodeURIComponent(from) : "") : "";
  const [plans, staffing] = await Promise.all([
    api("/api/v1/capacity/plans" + query),
    api("/api/v1/staffing"),
  ]);
  const growthInput = h("input", { name: "growth", value: growth, placeholder: "0.2 = +20 %", size: 10 });
  const fromInput = h("input", { name: "from", value: from, placeholder: "YYYY-MM-DD", size: 12 });
  const cards = plans.map((p) => {
    const image = h("img", { class: "chart", alt: "forecast of " + p.service + "/" + p.component, width: 640 });
    api("/api/v1/capacity/plans/" + encodeURIComponent(p.service) + "/" + encodeURIComponent(p.component) + "/chart.svg" + query, { raw: true })
      .then((r) => r.blob())
      .then((blob) => { image.src = URL.createObjectURL(blob); })
      .catch(() => { image.alt = "chart unavailable"; });
    const exhaustion = p.exhaustion
      ? day(p.exhaustion.expected) + " (" + day(p.exhaustion.earliest) + " – " + day(p.exhaustion.latest) + ")"
      : "not within the horizon";
    const facts = [
      ["Risk", h("td", { class: p.risk === "critical" || p.risk === "high" ? "bad" : p.risk === "medium" ? "warn" : "ok" }, p.risk)],
      ["Exhaustion (interval)", exhaustion],
      ["Current", fixed(p.current) + " " + (p.unit || "") + " at " + when(p.current_at)],
      ["Headroom", fixed(p.headroom) + " " + (p.unit || "")],
      ["Recommended capacity", fixed(p.recommended_capacity) + " (today " + fixed(p.capacity) + ")"],
      ["Model", p.model],
      ["Backtest", "MASE " + fixed(p.accuracy && p.accuracy.mase, 3) + " · 90 % interval coverage " + pct(p.accuracy && p.accuracy.coverage, 0)],
    ];
    return h("div", { class: "card" },
      h("h2", {}, p.service + " / " + p.component + " (" + (p.resource || "") + ")"),
      h("table", { class: "facts" }, h("tbody", {}, facts.map(([k, v]) => h("tr", {}, h("th", {}, k), v instanceof Node ? v : h("td", {}, v))))),
      image,
      candidateTable(p));
  });
  const staffingRows = [];
  for (const s of staffing) {
    for (const w of s.weeks) {
      staffingRows.push([s.service, s.priority, day(w.week_start), num(fixed(w.expected, 1)), num(fixed(w.lower, 1) + " – " + fixed(w.upper, 1))]);
    }
  }
  show(
    h("h1", {}, "Capacity"),
    h("form", {
      class: "controls", id: "growth-form",
      onsubmit: (event) => {
        event.preventDefault();
        const next = new URLSearchParams();
        if (growthInput.value) next.set("growth", growthInput.value);
        if (fromInput.value) next.set("from", fromInput.value);
        location.hash = "#/capacity?" + next.toString();
      },
    }, h("label", {}, "Growth what-if", growthInput), h("label", {}, "From", fromInput), h("button", { type: "submit" }, "Apply")),
    h("div", { class: "cards" }, cards),
    h("h2", {}, "Staffing: ticket arrivals per week"),
    table(["Service", "Priority", "Week", "Expected", "Range"], staffingRows),
  );
}

async function reports(params) {
  const month = params.get("month") || await watermarkMonth();
  const services = await api("/api/v1/services");
  const sample = await api("/api/v1/evidence/sample?month=" + encodeURIComponent(month)).catch((e) => e);
  const packRows = services.map((s) => [
    s.name || s.id,
    h("td", {}, ["html", "csv", "json"].map((format) => h("button", {
      type: "button", "data-format": format,
      onclick: () => download("/api/v1/reports/service-review?service=" + encodeURIComponent(s.id) + "&month=" + month + "&format=" + format,
        "service-review-" + s.id + "-" + month + "." + format),
    }, format.toUpperCase()))),
  ]);
  const monthInput = h("input", { type: "month", name: "month", value: month });
  show(
    h("h1", {}, "Reports"),
    h("form", {
      class: "controls",
      onsubmit: (event) => { event.preventDefault(); location.hash = "#/reports?month=" + monthInput.value; },
    }, h("label", {}, "Month", monthInput), h("button", { type: "submit" }, "Show")),
    h("h2", {}, "Monthly service review packs"),
    table(["Service", "Download"], packRows),
    h("h2", {}, "Evidence sample"),
    sample instanceof Error ? failure(sample) : evidence(sample, month),
  );
}

function evidence(sample, month) {
  const rows = (sample.tickets || []).map((t) => {
    const trail = t.clock_trail || {};
    return [trail.ticket, trail.service, trail.type, trail.priority, when(trail.created), (trail.events || []).length];
  });
  return h("div", { id: "sample" },
    h("p", { class: "muted" }, rows.length + " tickets drawn from " + sample.population + " (seed " + sample.seed + "); each with its clock trail and the history rows behind it in the JSON."),
    table(["Ticket", "Service", "Type", "Priority", "Created", "Status events"], rows),
    h("button", { type: "button", onclick: () => download("/api/v1/evidence/sample?month=" + month, "evidence-sample-" + month + ".json") }, "Download JSON"));
}

async function sql() {
  const box = h("textarea", { id: "sql-text", spellcheck: "false" }, "SELECT service, slo, count(*) AS slices FROM availability_slices GROUP BY 1, 2 ORDER BY 1, 2");
  const output = h("div", { id: "sql-result" });
  const month = await watermarkMonth();
  const showResult = (result) => {
    output.replaceChildren(
      table(result.columns.map((c) => (typeof c === "string" ? c : c.name)), result.rows.map((row) => row.map((v) => (v === null ? "null" : String(v))))),
      h("p", { class: "muted" }, result.rows.length + " rows" + (result.truncated ? " (truncated)" : "")));
  };
  const run = async (promise) => {
    try { showResult(await promise); } catch (error) { output.replaceChildren(failure(error)); }
  };
  const runBox = () => run(api("/api/v1/query", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sql: box.value, format: "json" }),
  }));
  show(
    h("h1", {}, "SQL over the history"),
    h("p", { class: "muted" }, "Read-only SQL over the history tables (see the README's Parquet history for their columns); the named reports come from queries/."),
    box,
    h("div", { class: "controls" },
      h("button", { type: "button", id: "sql-run", onclick: runBox }, "Run"),
      ["monthly_sla_report", "breach_register"].map((name) => h("button", {
        type: "button", onclick: () => run(api("/api/v1/reports/" + name + "?month=" + month)),
      }, name))),
    output,
  );
  await runBox();
}

// ---- routing -----------------------------------------------------------------------------------

const PAGES = [
  [/^#\/service\/(.+)$/, (m) => service(decodeURIComponent(m[1])), "#/"],
  [/^#\/breach\/(.+)$/, (m) => breach(decodeURIComponent(m[1])), "#/breaches"],
  [/^#\/breaches$/, () => breaches(), "#/breaches"],
  [/^#\/capacity(\?.*)?$/, (m, p) => capacity(p), "#/capacity"],
  [/^#\/reports(\?.*)?$/, (m, p) => reports(p), "#/reports"],
  [/^#\/sql$/, () => sql(), "#/sql"],
  [/^(#\/?)?(\?.*)?$/, (m, p) => overview(p), "#/"],
];

// How long the page took: from the navigation's start for the first page, from the hash change
// after that, to its figures on screen (charts stream in afterwards). Kept on the root element
// (`data-render-ms`, `data-rendered` = the page's hash) for the browser tests' timings.
let firstRender = true;

async function render() {
  const started = firstRender ? 0 : performance.now();
  firstRender = false;
  delete document.documentElement.dataset.rendered;
  try {
    await renderPage();
  } finally {
    document.documentElement.dataset.renderMs = String(Math.round(performance.now() - started));
    document.documentElement.dataset.rendered = location.hash || "#/";
  }
}

async function renderPage() {
  takeTokenFromFragment();
  if (!token()) return signIn();
  if (!session) {
    try {
      session = await api("/api/v1/session");
    } catch (error) {
      if (error.status !== 401) show(failure(error));
      return;
    }
  }
  document.getElementById("who").textContent = session.name + " (" + session.role + ")";
  const hash = location.hash || "#/";
  const params = new URLSearchParams(hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "");
  for (const [pattern, page, tab] of PAGES) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.getAttribute("href") === tab);
    show(h("p", { class: "muted" }, "Loading…"));
    try {
      await page(match, params);
    } catch (error) {
      show(failure(error));
    }
    return;
  }
  show(h("p", { class: "error" }, "No such page."));
}

window.addEventListener("hashchange", render);
window.addEventListener("DOMContentLoaded", render);
