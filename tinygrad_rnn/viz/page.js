// The page's script (no library, no network): hover, click a hidden state, zoom, the time and the training
// sliders, the timeline strip and the chart. Its numbers come from the SVG's data attributes and the JSON block
// `tg-data` that viz/html.py writes; html.py inlines this file into every page.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("tg-data").textContent);
  var svg = document.querySelector("#graph svg");
  var info = document.getElementById("info");
  var nodes = Array.prototype.slice.call(svg.querySelectorAll("g.node[id]"));
  var edges = Array.prototype.slice.call(svg.querySelectorAll("g.edge[id]"));
  var layers = {};
  data.layers.forEach(function (layer) { layers[layer.name] = layer; });
  var selection = -1;  // -1: the graph as drawn; k: snapshot k
  var RAMP = [[0xff, 0xf5, 0xf0], [0xef, 0x3b, 0x2c]];

  function fmt(x) { return x === null || x === undefined || x === "" ? "none" : Number(x).toPrecision(3); }
  function el(tag, attrs, text) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function colour(value, low, high) {
    if (value === null || value === undefined || !(value > 0)) return "#ffffff";
    var p = high - low < 1e-12 ? 1 : Math.min(1, Math.max(0, (Math.log10(value) - low) / (high - low)));
    return "rgb(" + RAMP[0].map(function (a, i) { return Math.round(a + (RAMP[1][i] - a) * p); }).join(",") + ")";
  }
  function range(values) {
    var logs = values.filter(function (v) { return v > 0; }).map(Math.log10);
    return logs.length ? [Math.min.apply(null, logs), Math.max.apply(null, logs)] : [0, 0];
  }
  function hiddenOf(name) {  // ||dL/dh_t|| of a layer for the current selection
    if (selection < 0) return layers[name] ? layers[name].hidden : [];
    return data.snapshots[selection].hidden[name] || [];
  }
  // one log10 range for every selection: across the training slider a shrinking gradient is seen to shrink
  var fixed = (function () {
    var all = [];
    data.layers.forEach(function (layer) { all = all.concat(layer.hidden); });
    data.snapshots.forEach(function (s) { Object.keys(s.hidden).forEach(function (k) { all = all.concat(s.hidden[k]); }); });
    return range(all);
  })();
  function stepLabel(t) {  // ' "e"': the caller's label of step t (step_labels), quoted so a space shows
    return data.step_labels && data.step_labels[t] !== undefined ? " " + JSON.stringify(data.step_labels[t]) : "";
  }
  function N(x) { return '<span class="norm">' + x + '</span>'; }  // a norm drawn by CSS: every font has it
  function esc(s) { return String(s).replace(/[&<>]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;"}[c]; }); }

  // ---- hover ---------------------------------------------------------------------------------------------
  function describe(g) {
    var title = g.querySelector("title");
    var lines = [];
    if (g.classList.contains("edge")) {
      lines.push("<h2>edge</h2>gradient sent back along it: " + N("·") + " = " + fmt(g.dataset.grad));
    } else {
      lines.push("<h2>" + esc((title ? title.textContent : "").split("\n")[0]) + "</h2>");
      if (g.dataset.op) lines.push("op <b>" + esc(g.dataset.op) + "</b>: " + esc(g.dataset.formula || ""));
      if (g.dataset.scope) lines.push("scope " + esc(g.dataset.scope));
      if (g.dataset.layer) lines.push("layer " + esc(g.dataset.layer) + (g.dataset.t ? ", t=" + g.dataset.t + esc(stepLabel(Number(g.dataset.t))) : ""));
      if (g.dataset.shape) lines.push("shape " + esc(g.dataset.shape));
      if (g.dataset.values) lines.push("values " + esc(g.dataset.values));
      if (g.dataset.ops) lines.push("ops " + esc(g.dataset.ops));
      var shown = g.dataset.shownGrad !== undefined ? g.dataset.shownGrad : g.dataset.grad;
      if (g.dataset.kind === "op" && shown === "" && g.dataset.values === undefined)
        lines.push('<span class="hint">its output is drawn as the next node, with its ' + N("grad") + "</span>");
      else lines.push((g.dataset.layer ? N("dL/dh_t") + " " : N("grad") + " ") + fmt(shown) +
                      (selection >= 0 && g.dataset.shownGrad !== undefined ? " (training step " + data.snapshots[selection].step + ")" : ""));
      if (g.dataset.cellGrad) lines.push(N("dL/dc_t") + " " + fmt(g.dataset.cellGrad));
      if (g.dataset.ends) lines.push(esc(g.dataset.ends) + (g.dataset.finalGrad ? ": " + N("dL/dh_n") + " " + fmt(g.dataset.finalGrad) : ""));
      if (g.dataset.hidden) lines.push('<span class="hint">click: the paths from here to the loss</span>');
    }
    return lines.join("\n");
  }
  nodes.concat(edges).forEach(function (g) {
    g.addEventListener("mouseenter", function () { if (!clicked) info.innerHTML = describe(g); });
  });

  // ---- click a hidden state: every path from it to the loss ----------------------------------------------
  var clicked = null;
  var out = {};
  edges.forEach(function (e) { (out[e.dataset.tail] = out[e.dataset.tail] || []).push(e); });
  function clearPath() {
    clicked = null;
    nodes.concat(edges).forEach(function (g) { g.classList.remove("on-path", "off-path", "clicked"); });
  }
  function factorList(g) {
    var layer = layers[g.dataset.layer];
    if (!layer || g.dataset.t === undefined) return "";
    var t = Number(g.dataset.t), order = layer.order, at = order.indexOf(t);
    if (!layer.factors) return "\n(per-step factors not computed: state size × steps past the budget, viz.factors.MAX_OP_BACKWARDS)";
    var rows = [], product = 1;
    for (var i = at + 1; i < order.length; i++) {
      var f = layer.factors[order[i]];
      product *= f;
      rows.push("<li>t=" + order[i] + ": " + N("∂s/∂s_prev") + " = " + fmt(f) + "</li>");
    }
    var shown = rows.length > 12 ? rows.slice(0, 6).concat(["<li>… " + (rows.length - 12) + " more …</li>"], rows.slice(-6)) : rows;
    return "\nper-step factors along " + esc(layer.name) + " (s = the cell's state):<ul id=\"factors\">" +
           shown.join("") + "</ul>product over the " + rows.length + " steps: " + fmt(product) +
           " (bounds " + N("dL/dh_t") + " / " + N("dL/dh_T") + " when the loss reads only the last step)";
  }
  nodes.forEach(function (g) {
    if (!g.dataset.hidden) return;
    g.addEventListener("click", function (event) {
      event.stopPropagation();
      clearPath();
      clicked = g;
      var reached = {}, stack = [g.id], on = {};
      reached[g.id] = true;
      while (stack.length) {
        var id = stack.pop();
        (out[id] || []).forEach(function (e) {
          on[e.id] = true;
          if (!reached[e.dataset.head]) { reached[e.dataset.head] = true; stack.push(e.dataset.head); }
        });
      }
      edges.forEach(function (e) { e.classList.add(on[e.id] ? "on-path" : "off-path"); });
      nodes.forEach(function (n) { if (!reached[n.id]) n.classList.add("off-path"); });
      g.classList.add("clicked");
      info.innerHTML = describe(g) + "\n<b>" + Object.keys(on).length + " edges</b> on the paths from here to the loss." +
                       factorList(g);
    });
  });
  svg.addEventListener("click", function () { clearPath(); info.innerHTML = '<p class="hint">Hover a node or an edge.</p>'; });

  // ---- zoom: the picture fits the pane's width, or is shown at a chosen share of its own size (scrolling) ----
  var zoom = document.getElementById("zoom"), naturalWidth = svg.width.baseVal.value;
  zoom.addEventListener("change", function () {
    svg.style.width = zoom.value === "fit" ? "" : Math.round(naturalWidth * Number(zoom.value)) + "px";
  });

  // ---- the time slider ------------------------------------------------------------------------------------
  var time = document.getElementById("time");
  function showTime() {
    if (!time) return;
    var t = Number(time.value);
    document.getElementById("time-label").textContent = "t=" + t + stepLabel(t);
    var found = {};
    nodes.forEach(function (g) {
      var here = g.dataset.t !== undefined && Number(g.dataset.t) === t;
      g.classList.toggle("selected", here);
      if (here) found[g.dataset.layer] = true;
    });
    nodes.forEach(function (g) {  // a step inside an elided run: the run is selected, its numbers shown
      if (g.dataset.kind === "elided" && !found[g.dataset.layer] && layers[g.dataset.layer] &&
          layers[g.dataset.layer].hidden[t] !== undefined) g.classList.add("selected");
      else if (g.dataset.kind === "elided") g.classList.remove("selected");
    });
    var lines = ["<h2>time step t=" + t + esc(stepLabel(t)) + "</h2>"];
    data.layers.forEach(function (layer) {
      var h = hiddenOf(layer.name)[t], c = layer.cell ? layer.cell[t] : null;
      lines.push("<b>" + esc(layer.name) + "</b>" + (found[layer.name] ? "" : " (inside the elided run)") +
                 ": " + N("dL/dh_t") + " " + fmt(h) + (c !== null && c !== undefined && selection < 0 ? ", " + N("dL/dc_t") + " " + fmt(c) : "") +
                 (layer.factors && layer.factors[t] !== null ? ", " + N("∂s_t/∂s_prev") + " " + fmt(layer.factors[t]) : ""));
    });
    if (!clicked) info.innerHTML = lines.join("\n");
    drawTimeline();
    showCell(null, t);
  }
  if (time) time.addEventListener("input", function () { clearPath(); showTime(); });

  // each drawn step's first line says what the step reads (t=3 "e"), before the training slider keeps the texts
  nodes.forEach(function (g) {
    var first = g.dataset.kind === "step" ? g.querySelector("text") : null;
    if (first) first.textContent += stepLabel(Number(g.dataset.t));
  });

  // ---- the training slider --------------------------------------------------------------------------------
  var snapshot = document.getElementById("snapshot");
  var original = nodes.map(function (g) {
    var shape = g.querySelector("path, polygon");
    return {fill: shape ? shape.getAttribute("fill") : null,
            texts: Array.prototype.map.call(g.querySelectorAll("text"), function (t) { return t.textContent; })};
  });
  function showSnapshot() {
    selection = Number(snapshot.value) >= data.snapshots.length ? -1 : Number(snapshot.value);
    var label = document.getElementById("snapshot-label");
    if (selection < 0) {
      label.textContent = "the graph as drawn";
    } else {
      var s = data.snapshots[selection];
      label.textContent = "training step " + s.step + ": loss " + fmt(s.loss) + ", ||grad|| " + fmt(s.grad_norm) +
                          (s.clipped_norm !== null ? " (clipped to " + fmt(s.clipped_norm) + ")" : "");
    }
    var r = fixed;
    nodes.forEach(function (g, i) {
      if (g.dataset.kind !== "step") return;
      var shape = g.querySelector("path, polygon"), texts = g.querySelectorAll("text");
      if (selection < 0) {
        delete g.dataset.shownGrad;
        if (shape) shape.setAttribute("fill", original[i].fill);
        texts.forEach(function (t, k) { t.textContent = original[i].texts[k]; });
        return;
      }
      var value = hiddenOf(g.dataset.layer)[Number(g.dataset.t)];
      g.dataset.shownGrad = value === undefined || value === null ? "" : String(value);
      if (shape) shape.setAttribute("fill", colour(value, r[0], r[1]));
      texts.forEach(function (t) {
        if (t.textContent.indexOf("||dL/dh||") === 0) t.textContent = "||dL/dh|| " + fmt(value);
        if (t.textContent.indexOf("||dL/dc||") === 0) t.textContent = "";
      });
    });
    showTime();
    drawChart();
  }
  if (snapshot) snapshot.addEventListener("input", showSnapshot);

  // ---- the timeline strip and the chart -------------------------------------------------------------------
  function drawTimeline() {
    var box = document.getElementById("timeline");
    box.innerHTML = "";
    if (!data.layers.length) return;
    var steps = Math.max.apply(null, data.layers.map(function (l) { return l.hidden.length; }));
    var width = 720, cell = width / steps, rowHeight = 16, left = 110, labelled = data.step_labels && cell >= 7;
    var s = el("svg", {width: left + width + 10, height: 24 + data.layers.length * (rowHeight + 4) + (labelled ? 14 : 0), id: "strip"});
    s.appendChild(el("text", {x: 4, y: 12, "font-size": 11}, "||dL/dh_t|| over t (click a cell to pick t)"));
    var r = fixed, t = time ? Number(time.value) : -1;
    data.layers.forEach(function (layer, row) {
      var y = 20 + row * (rowHeight + 4), values = hiddenOf(layer.name);
      s.appendChild(el("text", {x: 4, y: y + 12, "font-size": 11}, layer.name));
      for (var k = 0; k < steps; k++) {
        var rect = el("rect", {x: left + k * cell, y: y, width: Math.max(cell, 0.5), height: rowHeight,
                               fill: colour(values[k], r[0], r[1]), "class": "strip-cell" + (k === t ? " selected" : ""),
                               "data-t": k, "data-layer": layer.name, "data-grad": values[k] === null || values[k] === undefined ? "" : values[k]});
        rect.appendChild(el("title", {}, layer.name + " t=" + k + stepLabel(k) + ": ||dL/dh_t|| " + fmt(values[k])));
        rect.addEventListener("click", function (event) { time.value = event.target.dataset.t; clearPath(); showTime(); });
        s.appendChild(rect);
      }
    });
    if (labelled) {  // the steps' labels under the strip, where a label fits in its cell
      var y = 20 + data.layers.length * (rowHeight + 4) + 10;
      for (var k = 0; k < steps; k++) {
        s.appendChild(el("text", {x: left + (k + 0.5) * cell, y: y, "font-size": 10, "text-anchor": "middle",
                                  "class": "strip-label", style: "white-space: pre"}, data.step_labels[k]));
      }
    }
    box.appendChild(s);
  }
  function drawChart() {
    var box = document.getElementById("chart");
    box.innerHTML = "";
    var w = 420, h = 180, pad = 34;
    var s = el("svg", {width: w, height: h, id: "chart-svg"});
    var steps = 1;
    data.layers.forEach(function (layer) { steps = Math.max(steps, hiddenOf(layer.name).length); });
    var r = fixed;
    if (r[1] - r[0] < 1e-9) { r = [r[0] - 0.5, r[1] + 0.5]; }
    s.setAttribute("data-y-low", r[0]);
    s.setAttribute("data-y-high", r[1]);
    var every = Math.max(1, Math.ceil(steps / 12));
    for (var k = 0; k < steps; k += every) {  // the time axis: t, or the step's label
      var x = pad + (w - pad - 8) * (steps > 1 ? k / (steps - 1) : 0.5);
      s.appendChild(el("line", {x1: x, y1: h - pad, x2: x, y2: h - pad + 3, stroke: "#999"}));
      s.appendChild(el("text", {x: x, y: h - pad + 14, "font-size": 9, "text-anchor": "middle", "class": "axis-label",
                                style: "white-space: pre"}, data.step_labels ? data.step_labels[k] : String(k)));
    }
    s.appendChild(el("text", {x: w - 8, y: h - 4, "font-size": 10, "text-anchor": "end"}, data.step_labels ? "t (its input)" : "t"));
    s.appendChild(el("text", {x: pad, y: 14, "font-size": 11}, "log10 ||dL/dh_t|| against t" +
                     (selection >= 0 ? " at training step " + data.snapshots[selection].step : "")));
    s.appendChild(el("text", {x: 2, y: pad + 4, "font-size": 10}, r[1].toFixed(1)));
    s.appendChild(el("text", {x: 2, y: h - pad + 4, "font-size": 10}, r[0].toFixed(1)));
    s.appendChild(el("line", {x1: pad, y1: h - pad, x2: w - 8, y2: h - pad, stroke: "#999"}));
    s.appendChild(el("line", {x1: pad, y1: pad, x2: pad, y2: h - pad, stroke: "#999"}));
    var palette = ["#de2d26", "#3182bd", "#31a354", "#756bb1", "#e6550d", "#636363"];
    data.layers.forEach(function (layer, i) {
      var points = [];
      hiddenOf(layer.name).forEach(function (v, t) {
        if (v > 0) points.push((pad + (w - pad - 8) * (steps > 1 ? t / (steps - 1) : 0.5)).toFixed(1) + "," +
                               (h - pad - (h - 2 * pad) * (Math.log10(v) - r[0]) / (r[1] - r[0])).toFixed(1));
      });
      s.appendChild(el("polyline", {points: points.join(" "), fill: "none", stroke: palette[i % palette.length],
                                    "stroke-width": 1.6, "data-layer": layer.name}));
      s.appendChild(el("text", {x: w - 110, y: 28 + 12 * i, "font-size": 10, fill: palette[i % palette.length]}, layer.name));
    });
    box.appendChild(s);
    if (data.snapshots.length) {
      var losses = data.snapshots.map(function (x) { return x.loss; });
      var known = losses.filter(function (v) { return v !== null; });
      var lw = 270, lp = 48, low = Math.min.apply(null, known), high = Math.max.apply(null, known);
      var log = low > 0 && high / low > 10;  // a loss that spans more than a decade: on a log scale
      var at = function (v) { return log ? Math.log10(v) : v; };
      var lr = [at(low), at(high)];
      if (!known.length) lr = [0, 1];
      if (lr[1] - lr[0] < 1e-12) lr = [lr[0] - 1, lr[1] + 1];
      var l = el("svg", {width: lw, height: h, id: "loss-svg", "data-scale": log ? "log" : "linear",
                         "data-y-low": lr[0], "data-y-high": lr[1]});
      l.appendChild(el("text", {x: lp, y: 14, "font-size": 11}, "loss over training" + (log ? " (log scale)" : "")));
      l.appendChild(el("text", {x: lp - 4, y: pad + 4, "font-size": 10, "text-anchor": "end"}, fmt(log ? Math.pow(10, lr[1]) : lr[1])));
      l.appendChild(el("text", {x: lp - 4, y: h - pad + 4, "font-size": 10, "text-anchor": "end"}, fmt(log ? Math.pow(10, lr[0]) : lr[0])));
      l.appendChild(el("line", {x1: lp, y1: h - pad, x2: lw - 8, y2: h - pad, stroke: "#999"}));
      l.appendChild(el("line", {x1: lp, y1: pad, x2: lp, y2: h - pad, stroke: "#999"}));
      var pts = losses.map(function (v, k) {
        if (v === null) return null;
        return (lp + (lw - lp - 8) * (losses.length > 1 ? k / (losses.length - 1) : 0.5)).toFixed(1) + "," +
               (h - pad - (h - 2 * pad) * (at(v) - lr[0]) / (lr[1] - lr[0])).toFixed(1);
      });
      l.appendChild(el("polyline", {points: pts.filter(function (p) { return p !== null; }).join(" "), fill: "none",
                                    stroke: "#555", "stroke-width": 1.5}));
      if (selection >= 0 && pts[selection] !== null) {
        var p = pts[selection].split(",");
        l.appendChild(el("circle", {cx: p[0], cy: p[1], r: 4, fill: "#e6550d", id: "loss-marker"}));
      }
      box.appendChild(l);
    }
  }
  // ---- the inside of a step: a template per cell structure, re-numbered for the step shown ----------------
  var cells = data.cells, cellLayer = null;
  var EDGE = [[0xc4, 0xc4, 0xc4], [0x08, 0x30, 0x6b]], HIDDEN = [[0xf6, 0xb7, 0xa8], [0xa5, 0x0f, 0x15]];
  function g3(x) {  // Python's format(x, ".3g"): the picture's own labels
    if (x === 0) return "0";
    var e = Math.floor(Math.log10(Math.abs(x))), m = Number(x.toPrecision(3));
    e = Math.floor(Math.log10(Math.abs(m)));
    if (e < -4 || e >= 3) {
      var parts = m.toExponential(2).split("e"), mant = parts[0].replace(/\.?0+$/, ""), ex = Number(parts[1]);
      return mant + "e" + (ex < 0 ? "-" : "+") + (Math.abs(ex) < 10 ? "0" : "") + Math.abs(ex);
    }
    var text = m.toFixed(Math.max(0, 2 - e));
    return text.indexOf(".") >= 0 ? text.replace(/\.?0+$/, "") : text;
  }
  function position(norm) {
    var low = data.scale[0], high = data.scale[1];
    if (!(norm > 0)) return 0;
    if (!isFinite(norm) || high - low < 1e-12) return 1;
    return Math.min(1, Math.max(0, (Math.log10(norm) - low) / (high - low)));
  }
  function mixed(ramp, p) {
    return "#" + ramp[0].map(function (a, i) { var v = Math.round(a + (ramp[1][i] - a) * p); return (v < 16 ? "0" : "") + v.toString(16); }).join("");
  }
  function paintEdge(g, value, onPath) {
    var path = g.querySelector("path"), head = g.querySelector("polygon"), label = g.querySelector("text");
    var colour = "#b0b0b0", width = 0.8, dash = "1,5";
    if (value !== null && value !== undefined) {
      var p = position(value);
      colour = mixed(onPath ? HIDDEN : EDGE, p);
      width = 0.8 + 5.2 * p;
      dash = value === 0 ? "5,2" : "";
    }
    g.dataset.grad = value === null || value === undefined ? "" : String(value);
    var title = g.querySelector("title");
    if (title) title.textContent = "gradient sent back along this edge: ||·|| = " + (value === null || value === undefined ? "none flows" : g3(value));
    if (path) { path.setAttribute("stroke", colour); path.setAttribute("stroke-width", width.toFixed(2)); if (dash) path.setAttribute("stroke-dasharray", dash); else path.removeAttribute("stroke-dasharray"); }
    if (head) { head.setAttribute("stroke", colour); head.setAttribute("fill", colour); }
    if (label) label.textContent = value === null || value === undefined ? "none" : g3(value);
  }
  function nearestStep(steps, t) {
    var best = null;
    Object.keys(steps).forEach(function (k) { if (best === null || Math.abs(k - t) < Math.abs(best - t)) best = Number(k); });
    return best;
  }
  function showCell(layer, t) {
    if (!cells) return;
    if (layer !== null) cellLayer = layer;
    if (cellLayer === null || !cells.steps[cellLayer]) cellLayer = Object.keys(cells.steps)[0];
    var steps = cells.steps[cellLayer], shown = steps[t] ? t : nearestStep(steps, t);
    var entry = steps[shown], k = entry[0], template = cells.templates[k];
    var note = document.getElementById("cell-note");
    note.textContent = shown === t ? "Every op of the step, each edge as wide as the gradient it carries back (its norm on it); hover for the numbers." :
      "Step t=" + t + "'s inside is not in this page (" + cells.expanded + " of " + cells.total + " steps are expanded" +
      (cells.stride > 1 ? ": the drawn ones and every " + cells.stride + "th" : "") + ", at most " + cells.limit +
      "; viz.to_html(..., expand_steps=range(a, b)) picks others): showing t=" + shown + ", the nearest.";
    document.getElementById("cell-title").textContent = "inside " + cellLayer + " at t=" + shown + stepLabel(shown);
    Array.prototype.forEach.call(document.querySelectorAll(".cell-template"), function (div) { div.hidden = div.id !== "c" + k; });
    template.edges.forEach(function (edge, j) {
      var g = document.getElementById("c" + k + "e" + j);
      if (g) paintEdge(g, entry[1][j], edge[2] === 1);
    });
    template.measured.forEach(function (n, i) {
      var g = document.getElementById("c" + k + "n" + n);
      if (!g) return;
      var value = entry[2][i];
      g.dataset.grad = value === null || value === undefined ? "" : String(value);
      var title = g.querySelector("title");
      if (title) title.textContent = title.textContent.replace(/\|\|grad\|\| .*$/, "||grad|| " + (value === null || value === undefined ? "none flows" : g3(value)));
    });
    Array.prototype.forEach.call(document.querySelectorAll("#c" + k + " g.node"), function (g, n) {
      g.dataset.t = String(shown);
      g.dataset.layer = cellLayer;
      if (g.dataset.kind === "op") g.dataset.scope = cellLayer + "/t=" + shown + (template.suffix[g.id.slice(("c" + k + "n").length)] || "");
      var number = Number(g.id.slice(("c" + k + "n").length));
      if (entry[3]) { if (entry[3][number]) g.dataset.values = entry[3][number]; else delete g.dataset.values; }
    });
  }
  if (cells) {
    Array.prototype.forEach.call(document.querySelectorAll("#cell g.node, #cell g.edge"), function (g) {
      g.addEventListener("mouseenter", function () { if (!clicked) info.innerHTML = describe(g); });
    });
    nodes.forEach(function (g) {
      if (!g.dataset.layer) return;
      g.addEventListener("click", function () {
        var t = g.dataset.t !== undefined ? Number(g.dataset.t) : null, now = time ? Number(time.value) : 0;
        if (t === null) t = now >= Number(g.dataset.from) && now <= Number(g.dataset.to) ? now : Number(g.dataset.from);
        if (time) { time.value = t; document.getElementById("time-label").textContent = "t=" + t + stepLabel(t); }
        drawTimeline();
        showCell(g.dataset.layer, t);
      });
    });
  }
  showTime();
  drawChart();
})();
