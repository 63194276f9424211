/* Live figures: every element with data-poll refetches its API URL every few
   seconds (with the page's session cookie) and rewrites its data-f fields.
   Pauses while the tab is hidden. Sizes in powers of 1000, as carriers count. */
(function () {
  "use strict";
  var INTERVAL = 3000;
  var GAUGE_LENGTH = 301.6;
  var NBSP = "\u00a0";  /* keeps "1.5 GB" on one line, as the page does */
  var words = JSON.parse(document.getElementById("words").textContent);

  function size(n) {
    var units = ["B", "KB", "MB", "GB"];
    for (var i = 0; i < units.length; i++) {
      if (n < 1000) { return i === 0 ? Math.round(n) + NBSP + "B" : n.toFixed(1) + NBSP + units[i]; }
      n /= 1000;
    }
    return n.toFixed(2) + NBSP + "TB";
  }

  function rate(bps) {
    var units = ["bit/s", "kbit/s", "Mbit/s"];
    for (var i = 0; i < units.length; i++) {
      if (bps < 1000) { return i === 0 ? Math.round(bps) + NBSP + "bit/s" : bps.toFixed(1) + NBSP + units[i]; }
      bps /= 1000;
    }
    return bps.toFixed(1) + NBSP + "Gbit/s";
  }

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  function usedOf(used, allowance) {
    return allowance === null ? size(used) + " · " + words.no_cap : fmt(words.used_of, {used: size(used), total: size(allowance)});
  }

  function field(root, name) { return root.querySelector('[data-f="' + name + '"]'); }

  function set(root, name, text) {
    var el = field(root, name);
    if (el && el.textContent !== text) { el.textContent = text; }
    return el;
  }

  function bar(root, used, allowance, state) {
    var el = field(root, "bar");
    if (!el) { return; }
    el.setAttribute("width", allowance ? Math.min(100, 100 * used / allowance).toFixed(1) : "0");
    el.setAttribute("class", "fill " + state);
  }

  function binding(d) {  /* the limit that runs out first, as on the self-service page */
    return d.limits.reduce(function (a, b) { return a && a.remaining_bytes <= b.remaining_bytes ? a : b; }, null);
  }

  function device(root, d) {
    set(root, "usage", usedOf(d.usage.total_bytes, d.allowance_bytes));
    set(root, "up", rate(d.rate.up_bps));
    set(root, "down", rate(d.rate.down_bps));
    var badge = set(root, "state", words.states[d.state]);
    if (badge) { badge.className = "badge " + d.state; }
    var dot = field(root, "online");
    if (dot) { dot.className = "dot" + (d.online ? " on" : ""); dot.title = d.online ? words.online : words.offline; }
    var limit = binding(d);
    if (root.dataset.kind === "device" && limit) {
      set(root, "left", fmt(words.left_amount, {left: size(limit.remaining_bytes)}));
      set(root, "limit-used", usedOf(limit.used_bytes, limit.allowance_bytes));
      bar(root, limit.used_bytes, limit.allowance_bytes, d.state);
    } else {
      bar(root, d.usage.total_bytes, d.allowance_bytes, d.state);
    }
  }

  function plan(root, p) {
    if (p.allowance_bytes === null) { set(root, "plan-used", size(p.used_bytes)); return; }
    set(root, "plan-used", usedOf(p.used_bytes, p.allowance_bytes));
    set(root, "plan-left", fmt(words.left_amount, {left: size(p.remaining_bytes)}));
    var pct = 100 * p.used_bytes / p.allowance_bytes;
    var gauge = field(root, "gauge");
    if (gauge) { gauge.setAttribute("stroke-dasharray", (Math.min(pct, 100) * GAUGE_LENGTH / 100).toFixed(1) + " " + GAUGE_LENGTH); }
    set(root, "gauge-text", Math.round(pct) + "%");
  }

  var render = {
    devices: function (root, data) {
      data.devices.forEach(function (d) {
        var el = root.querySelector('[data-mac="' + d.mac + '"]');
        if (el) { device(el, d); }
      });
    },
    device: device,
    plan: plan
  };

  function poll(root) {
    if (document.hidden) { return; }
    fetch(root.dataset.poll, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) { render[root.dataset.kind](root, data); root.dataset.updated = String(Date.now()); }
      })
      .catch(function () { /* the router is restarting or out of reach: try again next time */ });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-poll]"), function (root) {
    setInterval(function () { poll(root); }, INTERVAL);
  });
})();
