// Couponcactus console: keeps the overview's redemption table live from /console/feed
// (server-sent events). The page works without it; every value is set as text.
(function () {
  "use strict";
  var table = document.getElementById("feed");
  if (!table || !window.EventSource) { return; }
  var body = table.tBodies[0];
  var empty = document.getElementById("feed-empty");
  var status = document.getElementById("live-status");
  var MAX_ROWS = 50;
  var after = table.getAttribute("data-after") || "";
  var source = new EventSource("/console/feed" + (after ? "?after=" + encodeURIComponent(after) : ""));

  function cell(text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) { td.className = className; }
    return td;
  }

  source.addEventListener("open", function () { status.hidden = false; });
  source.addEventListener("error", function () { status.hidden = true; });
  source.addEventListener("signed-out", function () { source.close(); window.location.assign("/console/login"); });
  source.addEventListener("redeemed", function (message) {
    var r;
    try { r = JSON.parse(message.data); } catch (e) { return; }
    if (body.querySelector('tr[data-id="' + CSS.escape(r.id) + '"]')) { return; }
    var tr = document.createElement("tr");
    tr.setAttribute("data-id", r.id);
    tr.className = "new";
    tr.appendChild(cell(r.time));
    var pool = document.createElement("td");
    var link = document.createElement("a");
    link.href = "/console/pools/" + encodeURIComponent(r.pool);
    link.textContent = r.pool_name || r.pool;
    pool.appendChild(link);
    if (r.partner) {
      var tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = "partner";
      pool.appendChild(document.createTextNode(" "));
      pool.appendChild(tag);
    }
    tr.appendChild(pool);
    tr.appendChild(cell(r.store));
    tr.appendChild(cell(r.channel));
    tr.appendChild(cell(r.discount, "num"));
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > MAX_ROWS) { body.deleteRow(body.rows.length - 1); }
    if (empty) { empty.hidden = true; }
  });
})();

// Bulk revoke: a picked CSV file is copied into the form's text area (without script,
// paste it).
(function () {
  "use strict";
  var inputs = document.querySelectorAll("input[type=file][data-into]");
  Array.prototype.forEach.call(inputs, function (input) {
    input.addEventListener("change", function () {
      var target = document.getElementById(input.getAttribute("data-into"));
      var file = input.files && input.files[0];
      if (!target || !file) { return; }
      var reader = new FileReader();
      reader.onload = function () { target.value = String(reader.result); };
      reader.readAsText(file);
    });
  });
})();

// Alerts: rows added live from /console/alerts/stream to the alerts table (alerts page)
// or the overview's alert list. The pages work without it.
(function () {
  "use strict";
  var table = document.getElementById("alerts");
  var list = document.getElementById("overview-alerts");
  if ((!table && !list) || !window.EventSource) { return; }
  var live = document.getElementById("alerts-live");
  var empty = document.getElementById("alerts-empty");
  var MAX_ROWS = 100;
  var source = new EventSource("/console/alerts/stream");

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function row(a) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-id", a.id);
    tr.className = "new";
    tr.appendChild(cell(a.time));
    var rule = cell(a.rule + " ");
    var tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = a.kind;
    rule.appendChild(tag);
    tr.appendChild(rule);
    tr.appendChild(cell(a.message));
    var pool = document.createElement("td");
    if (a.pool) {
      var link = document.createElement("a");
      link.href = "/console/pools/" + encodeURIComponent(a.pool);
      link.textContent = a.pool;
      pool.appendChild(link);
    }
    tr.appendChild(pool);
    return tr;
  }

  function item(a) {
    var li = document.createElement("li");
    li.setAttribute("data-id", a.id);
    li.className = "new";
    var strong = document.createElement("strong");
    strong.textContent = a.rule;
    li.appendChild(strong);
    li.appendChild(document.createTextNode(" · " + a.time + " · " + a.message));
    return li;
  }

  source.addEventListener("open", function () { if (live) { live.hidden = false; } });
  source.addEventListener("error", function () { if (live) { live.hidden = true; } });
  source.addEventListener("signed-out", function () { source.close(); window.location.assign("/console/login"); });
  source.addEventListener("alert", function (message) {
    var a;
    try { a = JSON.parse(message.data); } catch (e) { return; }
    var holder = table ? table.tBodies[0] : list;
    if (holder.querySelector('[data-id="' + CSS.escape(a.id) + '"]')) { return; }
    holder.insertBefore(table ? row(a) : item(a), holder.firstChild);
    while (holder.children.length > MAX_ROWS) { holder.removeChild(holder.lastChild); }
    if (empty) { empty.hidden = true; }
  });
})();
