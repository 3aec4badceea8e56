/*! King-Avis widget. Put <div data-kingavis-shop="your-shop-slug"></div> where the badge goes
 * (add data-kingavis-reviews="3" for the 3 latest reviews, data-lang="en" for English) and load
 * this script from King-Avis. With data-kingavis-product="<product id>" it shows that product's
 * stars and latest reviews (5 unless data-kingavis-reviews says otherwise) and adds the
 * product's schema.org JSON-LD to the page once it has a published review. No cookies, no other site contacted, styles in a shadow root.
 * It needs, on a page with a Content-Security-Policy, King-Avis's origin in script-src and
 * connect-src, and nothing else: the badge is drawn with SVG elements and styled with a
 * constructed stylesheet, which style-src does not govern. */
(function () {
  "use strict";
  var script = document.currentScript ||
    document.querySelector('script[src$="/widget.js"]');
  if (!script || !script.src || typeof Element.prototype.attachShadow !== "function") return;
  var origin = new URL(script.src, document.baseURI).origin;
  var SVG = "http://www.w3.org/2000/svg";
  // The badge's stars (kingavis/api/badge.py): five 16-unit stars, 3 apart, 92 x 16.
  var STARS = "M8.00,0.64L9.97,5.92L15.61,6.17L11.20,9.68L12.70,15.11L8.00,12.00L3.30,15.11L4.80,9.68L0.39,6.17L6.03,5.92ZM27.00,0.64L28.97,5.92L34.61,6.17L30.20,9.68L31.70,15.11L27.00,12.00L22.30,15.11L23.80,9.68L19.39,6.17L25.03,5.92ZM46.00,0.64L47.97,5.92L53.61,6.17L49.20,9.68L50.70,15.11L46.00,12.00L41.30,15.11L42.80,9.68L38.39,6.17L44.03,5.92ZM65.00,0.64L66.97,5.92L72.61,6.17L68.20,9.68L69.70,15.11L65.00,12.00L60.30,15.11L61.80,9.68L57.39,6.17L63.03,5.92ZM84.00,0.64L85.97,5.92L91.61,6.17L87.20,9.68L88.70,15.11L84.00,12.00L79.30,15.11L80.80,9.68L76.39,6.17L82.03,5.92Z";
  var CSS = [
    ":host{all:initial;display:block}",
    ".ka{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#101828;max-width:42em}",
    ".badge{display:inline-flex;align-items:center;gap:10px;padding:6px 12px;border:1px solid #98a2b3;border-radius:8px;background:#fff;color:#101828;text-decoration:none}",
    ".badge:hover{border-color:#344054}",
    "a:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}",
    ".avg{font-size:24px;font-weight:700;line-height:1}",
    ".side{display:flex;flex-direction:column;gap:3px}",
    ".count,.meta,.foot{font-size:12px;color:#344054}",
    "svg{display:block}",
    "ul{list-style:none;margin:10px 0 0;padding:0}",
    "li{border-top:1px solid #e4e7ec;padding:10px 0}",
    ".head{display:flex;flex-wrap:wrap;align-items:center;gap:4px 10px}",
    ".author{font-weight:600}",
    "p{margin:4px 0 0;white-space:pre-line;overflow-wrap:anywhere}",
    ".reply{margin:6px 0 0 8px;padding-left:10px;border-left:3px solid #d0d5dd}",
    ".foot{margin:6px 0 0}",
    ".foot a{color:#1d4ed8}"
  ].join("");
  // Every text in French and English. say() fills the {holes}; {s} is the plural "s".
  var WORDS = {
    locale: ["fr-FR", "en-US"],
    rated: ["{name} : note moyenne {avg} sur 5, {n} avis vérifié{s}",
            "{name}: average rating {avg} out of 5, {n} verified review{s}"],
    unrated: ["{name} : pas encore d'avis vérifié", "{name}: no verified reviews yet"],
    open: ["voir les avis (nouvel onglet)", "see the reviews (new tab)"],
    count: ["{n} avis", "{n} review{s}"],
    none: ["Pas encore d'avis", "No reviews yet"],
    stars: ["{n} étoile{s} sur 5", "{n} star{s} out of 5"],
    anonymous: ["Client vérifié", "Verified customer"],
    // Experience first, then publication: the order of the public page.
    experience: ["Expérience du {date} · ", "Experience of {date} · "],
    published: ["Publié le {date}", "Published on {date}"],
    // "Réponse d'Épicerie Zoë": French elides "de" before a vowel (kingavis/formatting.py).
    reply: ["Réponse {of}{shop}", "Reply from {shop}"],
    latest: ["Derniers avis", "Latest reviews"],
    verified: ["Avis vérifiés par King-Avis", "Reviews verified by King-Avis"],
    charter: ["comment nous les vérifions", "how we check them"]
  };

  function say(template, holes) {
    return template.replace(/\{(\w+)\}/g, function (hole, name) { return holes[name]; });
  }

  function texts(i) {
    var w = {};
    for (var key in WORDS) w[key] = WORDS[key][i];
    return {
      locale: w.locale,
      label: function (name, avg, n) {
        return say(n ? w.rated : w.unrated, {name: name, avg: avg, n: n, s: n > 1 ? "s" : ""});
      },
      open: w.open,
      count: function (n, text) { return n ? say(w.count, {n: text, s: n > 1 ? "s" : ""}) : w.none; },
      stars: function (r) { return say(w.stars, {n: r, s: r > 1 ? "s" : ""}); },
      anonymous: w.anonymous,
      dates: function (published, experience) {
        return (experience ? say(w.experience, {date: experience}) : "") +
          say(w.published, {date: published});
      },
      reply: function (shop) {
        return say(w.reply, {shop: shop, of: /^[aeiouyàâäéèêëîïôöùûüœæ]/i.test(shop) ? "d'" : "de "});
      },
      latest: w.latest,
      verified: w.verified,
      charter: w.charter
    };
  }
  var TEXT = {fr: texts(0), en: texts(1)};
  var sheet = null;
  var pending = {};

  function el(tag, cls, text, parent) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function svg(tag, attrs, parent) {
    var node = document.createElementNS(SVG, tag);
    for (var name in attrs) node.setAttribute(name, attrs[name]);
    if (parent) parent.appendChild(node);
    return node;
  }

  // Gold up to the average (whole stars, then part of the next), grey behind: the same nested
  // <svg> clipping as the SVG badge, with no id and no style attribute.
  function stars(value, height) {
    var whole = Math.floor(value);
    var fill = Math.min(92, whole * 19 + (value - whole) * 16);
    var box = svg("svg", {viewBox: "0 0 92 16", width: (height * 92 / 16).toFixed(1),
      height: height, "aria-hidden": "true", focusable: "false"});
    svg("path", {fill: "#c6ccd5", d: STARS}, box);
    svg("path", {fill: "#d98a00", d: STARS}, svg("svg", {width: fill.toFixed(2), height: 17,
      overflow: "hidden"}, box));
    return box;
  }

  function language(node) {
    var holder = node.closest("[lang]");
    var lang = node.getAttribute("data-lang") ||
      (holder && holder.getAttribute("lang")) || document.documentElement.lang || "";
    return /^en(-|$)/i.test(lang) ? "en" : "fr";
  }

  function get(path) {
    if (!pending[path]) {
      pending[path] = fetch(origin + path, {credentials: "omit", mode: "cors"})
        .then(function (response) {
          if (!response.ok) throw new Error("King-Avis: " + response.status + " for " + path);
          return response.json();
        });
    }
    return pending[path];
  }

  function day(value, t) {
    if (!value) return "";
    var date = new Date(value.length === 10 ? value + "T12:00:00Z" : value);
    // The medium date of every page (kingavis/formatting.py): 7 déc. 2026, Dec 7, 2026.
    return new Intl.DateTimeFormat(t.locale, {day: "numeric", month: "short", year: "numeric",
      timeZone: value.length === 10 ? "UTC" : undefined}).format(date);
  }

  function badge(summary, t, parent) {
    var rating = summary.rating;
    var target = summary.product ? summary.product : summary.shop;
    var name = summary.product ? (summary.product.name || summary.shop.name) : summary.shop.name;
    var average = rating.average == null ? "–" : new Intl.NumberFormat(t.locale,
      {minimumFractionDigits: 1, maximumFractionDigits: 1}).format(rating.average);
    var count = new Intl.NumberFormat(t.locale).format(rating.count);
    var link = el("a", "badge", null, parent);
    link.href = target.public_url;
    link.target = "_blank";
    link.rel = "noopener";
    link.setAttribute("aria-label", t.label(name, average, rating.count > 0 ?
      count : 0) + " — " + t.open);
    el("span", "avg", average, link);
    var side = el("span", "side", null, link);
    side.appendChild(stars(rating.average || 0, 16));
    el("span", "count", t.count(rating.count, count) + " · King-Avis", side);
  }

  function review(item, shopName, t, list) {
    var li = el("li", null, null, list);
    var head = el("div", "head", null, li);
    var rated = el("span", "rating", null, head);
    rated.setAttribute("role", "img");
    rated.setAttribute("aria-label", t.stars(item.rating));
    rated.appendChild(stars(item.rating, 14));
    el("span", "author", item.author || t.anonymous, head);
    el("span", "meta", t.dates(day(item.published_at, t), day(item.experience_date, t)), li);
    if (item.comment) el("p", "comment", item.comment, li);
    if (item.reply) {
      var reply = el("div", "reply", null, li);
      el("span", "meta", t.reply(shopName) + " · " + day(item.reply.published_at, t), reply);
      el("p", null, item.reply.text, reply);
    }
  }

  // The product's Product JSON-LD in the host page's head, once per product. A page that
  // enforces Trusted Types must allow a policy named "kingavis" for it (else nothing is added:
  // render /api/v1/shops/<slug>/products/<id>/jsonld on the server instead).
  var policy = null;
  function scriptText(json) {
    if (window.trustedTypes && window.trustedTypes.createPolicy) {
      if (!policy) policy = window.trustedTypes.createPolicy("kingavis", {
        createScript: function (value) { return value; }
      });
      return policy.createScript(json);
    }
    return json;
  }

  function marked(key) {
    var tags = document.querySelectorAll("script[data-kingavis-jsonld]");
    for (var i = 0; i < tags.length; i++) {
      if (tags[i].getAttribute("data-kingavis-jsonld") === key) return true;
    }
    return false;
  }

  function markup(path, key) {
    if (marked(key)) return;
    get(path).then(function (data) {
      if (!data || marked(key)) return;
      var tag = document.createElement("script");
      tag.type = "application/ld+json";
      tag.setAttribute("data-kingavis-jsonld", key);
      try {
        tag.text = scriptText(JSON.stringify(data));
      } catch (refused) {
        return; // Trusted Types without the "kingavis" policy
      }
      document.head.appendChild(tag);
    }).catch(function (error) {
      if (window.console) console.warn(error.message || error);
    });
  }

  function render(node) {
    if (node.shadowRoot) return;
    var slug = node.getAttribute("data-kingavis-shop") || "";
    if (!slug) return;
    var product = node.getAttribute("data-kingavis-product") || "";
    var asked = node.getAttribute("data-kingavis-reviews");
    var wanted = Math.min(100, parseInt(asked, 10) || (product && asked == null ? 5 : 0));
    var t = TEXT[language(node)];
    var root = node.attachShadow({mode: "open"});
    if (root.adoptedStyleSheets && typeof CSSStyleSheet.prototype.replaceSync === "function") {
      if (!sheet) {
        sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
      }
      root.adoptedStyleSheets = [sheet];
    } else {
      el("style", null, CSS, root); // older browsers; a strict style-src will refuse it
    }
    var base = "/api/v1/shops/" + encodeURIComponent(slug) +
      (product ? "/products/" + encodeURIComponent(product) : "");
    if (product) markup(base + "/jsonld", slug + "/" + product);
    var box = el("div", "ka", null, root);
    box.lang = t === TEXT.en ? "en" : "fr";
    var requests = [get(base + "/summary")];
    if (wanted > 0) requests.push(get(base + "/reviews?per_page=" + wanted + "&sort=recent"));
    Promise.all(requests).then(function (answers) {
      var summary = answers[0];
      badge(summary, t, box);
      var items = answers[1] ? answers[1].reviews : [];
      if (!items.length) return;
      var list = el("ul", null, null, box);
      list.setAttribute("role", "list");
      list.setAttribute("aria-label", t.latest);
      items.forEach(function (item) { review(item, summary.shop.name, t, list); });
      var foot = el("p", "foot", t.verified + " · ", box);
      var charter = el("a", null, t.charter, foot);
      charter.href = summary.shop.public_url + "/charte";
      charter.target = "_blank";
      charter.rel = "noopener";
    }).catch(function (error) {
      if (window.console) console.warn(error.message || error);
    });
  }

  function scan() {
    var nodes = document.querySelectorAll("[data-kingavis-shop]");
    for (var i = 0; i < nodes.length; i++) render(nodes[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", scan);
  } else {
    scan();
  }
  // Containers added later (a quick view, an infinite list) are filled too, 50 ms after.
  var queued = false;
  if (window.MutationObserver) {
    new MutationObserver(function () {
      if (queued) return;
      queued = true;
      setTimeout(function () { queued = false; scan(); }, 50);
    }).observe(document.documentElement, {childList: true, subtree: true});
  }
})();
