// Sortable tables, no dependencies: click a header to sort by that column.
// Cells sort by their data-value when they have one (numbers for numeric columns), else by their text;
// empty values always go last.
(function () {
  "use strict";
  function key(cell, numeric) {
    if (!cell) return null;
    var raw = cell.getAttribute("data-value");
    if (numeric) {
      if (raw === null || raw === "") return null;
      var n = parseFloat(raw);
      return isNaN(n) ? null : n;
    }
    return (raw !== null ? raw : cell.textContent).trim().toLowerCase();
  }
  function sortBy(table, th, index) {
    var numeric = th.getAttribute("data-type") === "num";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var ka = key(a.cells[index], numeric), kb = key(b.cells[index], numeric);
      if (ka === null && kb === null) return 0;
      if (ka === null) return 1;
      if (kb === null) return -1;
      var c = ka < kb ? -1 : ka > kb ? 1 : 0;
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var head = table.tHead && table.tHead.rows[0];
    if (!head) return;
    Array.prototype.forEach.call(head.cells, function (th, index) {
      th.setAttribute("tabindex", "0");
      th.addEventListener("click", function () { sortBy(table, th, index); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, th, index); });
    });
  });
  // search and architecture filter over every board table of the page
  var search = document.querySelector("input.board-filter");
  var family = document.querySelector("select.board-family");
  var kind = document.querySelector("select.board-kind");
  var size = document.querySelector("select.board-size");
  function sizeOk(tr) {
    if (!size || !size.value) return true;
    var p = parseFloat(tr.getAttribute("data-params"));
    var range = size.value.split("-");
    var lo = parseFloat(range[0]), hi = range[1] === "" ? Infinity : parseFloat(range[1]);
    return !isNaN(p) && p >= lo && p < hi;
  }
  var shown = document.querySelector(".toolbar .shown");
  function applyFilters() {
    var q = search ? search.value.trim().toLowerCase() : "";
    var fam = family ? family.value : "";
    var total = 0, visible = 0;
    document.querySelectorAll("table.filterable tbody tr").forEach(function (tr) {
      var ok = (!q || tr.textContent.toLowerCase().indexOf(q) >= 0) &&
        (!fam || tr.getAttribute("data-family") === fam) &&
        (!kind || !kind.value || tr.getAttribute("data-kind") === kind.value) && sizeOk(tr);
      tr.hidden = !ok;
      total += 1;
      if (ok) visible += 1;
    });
    if (shown) shown.textContent = visible + " of " + total + " entries shown";
  }
  if (search) search.addEventListener("input", applyFilters);
  if (family) family.addEventListener("change", applyFilters);
  if (kind) kind.addEventListener("change", applyFilters);
  if (size) size.addEventListener("change", applyFilters);
  if (search || family) applyFilters();
  // -- compare two ticked entries side by side (data from the page's hidden .cmp-entry blocks) --------
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function entryData(id) {
    var found = null;
    document.querySelectorAll(".compare-data .cmp-entry").forEach(function (d) {
      if (d.getAttribute("data-entry") === id) found = d;
    });
    return found;
  }
  function items(block, kind) {
    var out = {}, order = [];
    block.querySelectorAll("span." + kind).forEach(function (s) {
      var name = s.getAttribute("data-name");
      if (!(name in out)) order.push(name);
      out[name] = s;
    });
    return { map: out, order: order };
  }
  function union(a, b) {
    var seen = {}, out = [];
    a.concat(b).forEach(function (n) { if (!seen[n]) { seen[n] = true; out.push(n); } });
    return out;
  }
  function headRow(table, first, a, b) {
    var tr = el("tr");
    [first, a.getAttribute("data-model"), b.getAttribute("data-model")].forEach(function (t) { tr.appendChild(el("th", t)); });
    table.appendChild(el("thead")).appendChild(tr);
    return table.appendChild(el("tbody"));
  }
  function metricsTable(a, b) {
    var ma = items(a, "m"), mb = items(b, "m");
    var table = el("table", null, "compare-metrics");
    var body = headRow(table, "metric", a, b);
    union(ma.order, mb.order).forEach(function (name) {
      var sa = ma.map[name], sb = mb.map[name];
      var tr = el("tr");
      var better = (sa || sb).getAttribute("data-better");
      var th = el("td", name);
      var mark = el("span", null, "better-" + better);
      mark.title = better + " is better";
      th.insertBefore(mark, th.firstChild);
      tr.appendChild(th);
      var va = sa ? parseFloat(sa.getAttribute("data-value")) : NaN;
      var vb = sb ? parseFloat(sb.getAttribute("data-value")) : NaN;
      [[sa, va, vb], [sb, vb, va]].forEach(function (c) {
        var td = el("td", c[0] ? c[0].getAttribute("data-text") : "-");
        if (!isNaN(c[1]) && !isNaN(c[2]) && c[1] !== c[2] && ((better === "higher") === (c[1] > c[2]))) td.className = "wins";
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    return table;
  }
  function configTable(a, b) {
    var ha = items(a, "h"), hb = items(b, "h");
    var table = el("table", null, "compare-config");
    var body = headRow(table, "setting", a, b);
    var differ = 0;
    union(ha.order, hb.order).forEach(function (name) {
      var ta = ha.map[name] ? ha.map[name].getAttribute("data-text") : "-";
      var tb = hb.map[name] ? hb.map[name].getAttribute("data-text") : "-";
      var tr = el("tr", null, ta === tb ? "same" : "differs");
      if (ta !== tb) differ += 1;
      tr.appendChild(el("td", name));
      tr.appendChild(el("td", ta));
      tr.appendChild(el("td", tb));
      body.appendChild(tr);
    });
    return { table: table, differ: differ };
  }
  function gradcam(a, b) {
    var ga = items(a, "g"), gb = items(b, "g");
    var shared = ga.order.filter(function (n) { return n in gb.map; });
    var box = el("div", null, "compare-cams");
    shared.forEach(function (name) {
      var fig = el("figure", null, "cam-pair");
      [ga.map[name], gb.map[name]].forEach(function (s, i) {
        var img = el("img");
        img.src = s.getAttribute("data-src");
        img.alt = "Grad-CAM of " + [a, b][i].getAttribute("data-model") + " on " + name;
        fig.appendChild(img);
      });
      fig.appendChild(el("figcaption", name + " (left: " + a.getAttribute("data-model") + ", right: " + b.getAttribute("data-model") + ")"));
      box.appendChild(fig);
    });
    return { box: box, shared: shared.length };
  }
  var section = document.getElementById("compare");
  var picks = document.querySelectorAll("input.compare-pick");
  var status = document.querySelector(".compare-status");
  var clear = document.getElementById("compare-clear");
  function ticked() {
    return Array.prototype.filter.call(picks, function (p) { return p.checked; }).map(function (p) { return p.value; });
  }
  function renderCompare() {
    var ids = ticked();
    picks.forEach(function (p) { p.disabled = !p.checked && ids.length >= 2; });
    if (status) status.textContent = ids.length === 2 ? "comparing 2 entries (below the tables)" : "tick " + (2 - ids.length) + " more to compare";
    if (clear) clear.hidden = ids.length === 0;
    if (!section) return;
    section.textContent = "";
    if (ids.length !== 2) { section.hidden = true; return; }
    var a = entryData(ids[0]), b = entryData(ids[1]);
    if (!a || !b) { section.hidden = true; return; }
    section.appendChild(el("h2", "Compare " + a.getAttribute("data-model") + " and " + b.getAttribute("data-model")));
    var links = el("p", null, "meta");
    [a, b].forEach(function (d, i) {
      var link = el("a", d.getAttribute("data-entry") + "@" + d.getAttribute("data-revision"));
      link.href = d.getAttribute("data-href");
      if (i) links.appendChild(document.createTextNode(" vs "));
      links.appendChild(link);
    });
    section.appendChild(links);
    section.appendChild(el("h3", "Metrics (95% intervals; the better value in bold)"));
    section.appendChild(metricsTable(a, b));
    var cfg = configTable(a, b);
    section.appendChild(el("h3", "Configuration (" + cfg.differ + " setting" + (cfg.differ === 1 ? "" : "s") + " differ, highlighted)"));
    section.appendChild(cfg.table);
    var cams = gradcam(a, b);
    section.appendChild(el("h3", "Grad-CAM on the same test images (" + cams.shared + ")"));
    if (cams.shared) section.appendChild(cams.box);
    else section.appendChild(el("p", "These entries publish no Grad-CAM overlays of the same images.", "note"));
    section.hidden = false;
    if (history.replaceState) history.replaceState(null, "", "#compare=" + encodeURIComponent(ids.join(",")));
  }
  picks.forEach(function (p) { p.addEventListener("change", renderCompare); });
  if (clear) clear.addEventListener("click", function () {
    picks.forEach(function (p) { p.checked = false; });
    renderCompare();
  });
  if (picks.length && location.hash.indexOf("#compare=") === 0) {
    var wanted = decodeURIComponent(location.hash.slice(9)).split(",");
    picks.forEach(function (p) { p.checked = wanted.indexOf(p.value) >= 0 && ticked().length < 2; });
  }
  if (picks.length) renderCompare();

  // -- the interactive Pareto plot: choose the cost axis; hover shows the entry; points link to it ------
  var axis = document.getElementById("pareto-x");
  if (axis) axis.addEventListener("change", function () {
    document.querySelectorAll(".pareto-view").forEach(function (v) { v.hidden = v.getAttribute("data-x") !== axis.value; });
  });
  var tip = document.getElementById("pareto-tip");
  document.querySelectorAll(".pareto-view a.pt").forEach(function (a) {
    function show() {
      if (!tip) return;
      tip.textContent = a.getAttribute("data-tip");
      var box = a.getBoundingClientRect(), host = tip.parentNode.getBoundingClientRect();
      var right = box.left - host.left > host.width / 2;  // near the right edge: the tip grows leftwards
      tip.style.left = right ? "" : (box.left - host.left + 14) + "px";
      tip.style.right = right ? (host.right - box.left + 8) + "px" : "";
      tip.style.top = (box.top - host.top - 8) + "px";
      tip.hidden = false;
      a.classList.add("hot");
    }
    function hide() { if (tip) tip.hidden = true; a.classList.remove("hot"); }
    a.addEventListener("mouseenter", show);
    a.addEventListener("focus", show);
    a.addEventListener("mouseleave", hide);
    a.addEventListener("blur", hide);
  });

  // -- try-a-model: choice of entry, and the decision at the slider's threshold ------------------------
  var choice = document.getElementById("entry-choice");
  if (choice) choice.addEventListener("change", function () { location.href = choice.value; });
  var slider = document.getElementById("threshold");
  function decide() {
    var t = parseFloat(slider.value);
    var out = document.getElementById("threshold-value");
    if (out) out.textContent = t.toFixed(2);
    document.querySelectorAll("input.threshold-copy").forEach(function (c) { c.value = t.toFixed(2); });
    var result = document.getElementById("result"), decision = document.getElementById("decision");
    if (!result || !decision) return;
    var task = result.getAttribute("data-task");
    var probs = Array.prototype.map.call(result.querySelectorAll("table.probs tbody tr"), function (tr) {
      return { label: tr.getAttribute("data-label"), p: parseFloat(tr.getAttribute("data-p")) };
    });
    var text;
    if (task === "binary" && result.getAttribute("data-positive")) {
      var pos = result.getAttribute("data-positive");
      var pp = probs.filter(function (x) { return x.label === pos; })[0];
      text = pp && pp.p >= t ? pos : result.getAttribute("data-negative");
    } else if (task === "multilabel") {
      text = probs.filter(function (x) { return x.p >= t; }).map(function (x) { return x.label; }).join(", ") || "no finding";
    } else {
      var top = probs[0];
      text = top.p >= t ? top.label : "uncertain (top probability " + top.p.toFixed(3) + " is below " + t.toFixed(2) + ")";
    }
    decision.textContent = text;
    var shown = document.getElementById("decision-threshold");
    if (shown) shown.textContent = t.toFixed(2);
  }
  if (slider) slider.addEventListener("input", decide);

  // copy buttons on command snippets
  document.querySelectorAll("pre.copy").forEach(function (pre) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "Copy";
    button.addEventListener("click", function () {
      var text = pre.querySelector("code").textContent;
      if (navigator.clipboard) {
        navigator.clipboard.writeText(text).then(function () { button.textContent = "Copied"; },
          function () { button.textContent = "Select and copy"; });
      } else {
        button.textContent = "Select and copy";
      }
    });
    pre.appendChild(button);
  });
})();
