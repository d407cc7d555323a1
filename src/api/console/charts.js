// Small SVG charts for the console, drawn with DOM calls (no library, no markup strings):
// daily attainment against the target, and the error budget burning down over the window.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const WIDTH = 640;
const HEIGHT = 220;
const PAD = { left: 56, right: 12, top: 24, bottom: 28 };

function frame(title, lowest, highest, labels) {
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (labels.length <= 1 ? 0 : (i * plotWidth) / (labels.length - 1));
  const y = (v) => PAD.top + plotHeight * (1 - (v - lowest) / (highest - lowest || 1));
  const root = svg("svg", { viewBox: "0 0 " + WIDTH + " " + HEIGHT, class: "chart", role: "img" },
    svg("title", {}, title),
    svg("text", { x: PAD.left, y: 14, "font-size": 12, "font-weight": 600 }, title));
  for (const v of [lowest, (lowest + highest) / 2, highest]) {
    root.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v), stroke: "#e3e6ee" }),
      svg("text", { x: PAD.left - 4, y: y(v) + 4, "font-size": 10, "text-anchor": "end", fill: "#6b7385" }, (100 * v).toFixed(2) + "%"));
  }
  const step = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % step === 0) {
      root.append(svg("text", { x: x(i), y: HEIGHT - 8, "font-size": 10, "text-anchor": "middle", fill: "#6b7385" }, label.slice(5)));
    }
  });
  return { root, x, y };
}

// days: [{date, attained, excluded, breached}] in date order.
function attainmentChart(title, target, days) {
  const values = days.map((d) => d.attained).filter((v) => v !== null);
  const lowest = Math.max(0, Math.min(target, ...values) - (1 - target));
  const { root, x, y } = frame(title, lowest, 1, days.map((d) => d.date));
  root.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(target), y2: y(target), stroke: "#b42318", "stroke-dasharray": "4 3" }),
    svg("text", { x: WIDTH - PAD.right, y: y(target) - 3, "font-size": 10, "text-anchor": "end", fill: "#b42318" }, "target " + (100 * target).toFixed(2) + "%"));
  const width = Math.max(2, (WIDTH - PAD.left - PAD.right) / Math.max(1, days.length) - 2);
  days.forEach((d, i) => {
    if (d.attained === null) return;
    root.append(svg("rect", {
      x: x(i) - width / 2, y: y(d.attained), width, height: Math.max(1, y(lowest) - y(d.attained)),
      fill: d.attained < target ? "#d92d20" : "#12b76a",
    }, svg("title", {}, d.date + ": " + (100 * d.attained).toFixed(3) + "%")));
    if (d.excluded > 0) {
      root.append(svg("rect", { x: x(i) - width / 2, y: PAD.top - 6, width, height: 4, fill: "#98a2b3" },
        svg("title", {}, d.date + ": " + d.excluded + " s excluded (maintenance)")));
    }
    if (d.breached) {
      root.append(svg("text", { x: x(i), y: PAD.top - 8, "font-size": 12, "text-anchor": "middle", fill: "#b42318" }, "▼",
        svg("title", {}, d.date + ": breach detected")));
    }
  });
  return root;
}

// days: [{date, remaining}] with remaining the share of the window's error budget left.
function burnDownChart(title, days) {
  const lowest = Math.min(0, ...days.map((d) => d.remaining));
  const { root, x, y } = frame(title, lowest, 1, days.map((d) => d.date));
  root.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0), stroke: "#b42318", "stroke-dasharray": "4 3" }));
  const points = days.map((d, i) => x(i) + "," + y(d.remaining)).join(" ");
  root.append(svg("polyline", { points, fill: "none", stroke: "#2e5bff", "stroke-width": 2 }));
  return root;
}
