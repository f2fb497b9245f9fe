// The planner's map (配送地图): shops as vector tiles coloured by route, route lines and
// depots as GeoJSON, all in the basemap's coordinate system (the server converts). The side
// panel (#planner-panel, an htmx partial) carries the tile and overlay URLs of the current
// filters; when it is swapped the layers are reloaded. Shift-drag draws a rectangle, the
// "套索" mode a freehand lasso; the polygon goes to the server through the hidden
// #planner-select-form (htmx adds the CSRF header), which answers the selected shops.
// A computed plan's routes (any element with data-plan-map: the plan box or a move's result)
// are drawn over the map with map.js's builders, before dashed and after solid, each in its
// route's colour; the map's container says how many (data-plan-lines, -dashed, -solid).
(function () {
  "use strict";
  // The same palette as planner.css (.swatch.cN): a route's colour is its id mod 12.
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#bcbd22", "#393b79", "#637939", "#ad494a"];
  var NO_ROUTE = "#8a94a6";
  var SELECTED = { radius: 7, weight: 3, color: "#111111", opacity: 1, fill: true,
    fillColor: "#ffeb3b", fillOpacity: 1 };
  var S = { map: null, shops: null, overlay: null, query: null, shape: null, mode: null,
    selected: [], plan: null, planEl: null };

  function colour(i) { return i >= 0 ? PALETTE[i % PALETTE.length] : NO_ROUTE; }
  function json(el, name) {
    var raw = el && el.getAttribute(name);
    return raw ? JSON.parse(raw) : null;
  }
  function panel() { return document.getElementById("planner-panel"); }

  function shopStyle(props, zoom) {
    return { radius: zoom >= 15 ? 6 : (zoom >= 12 ? 4 : 3), weight: 1, color: "#ffffff",
      opacity: 0.9, fill: true, fillColor: colour(props.colour), fillOpacity: 0.9 };
  }

  // -- layers ---------------------------------------------------------------------------
  function loadShops(url) {
    var el = S.map.getContainer();
    el.setAttribute("data-tiles-state", "loading");
    if (S.shops) { S.shops.setUrl(url); return; }
    S.shops = L.vectorGrid.protobuf(url, {
      pane: "plannerShops",
      rendererFactory: L.canvas.tile,
      interactive: false,
      vectorTileLayerStyles: { shops: shopStyle },
      getFeatureId: function (f) { return f.properties.id; },
      fetchOptions: { credentials: "same-origin" },
      maxZoom: 20,
    });
    S.shops.on("loading", function () { el.setAttribute("data-tiles-state", "loading"); });
    S.shops.on("load", function () {
      el.setAttribute("data-tiles-query", S.query || "");
      el.setAttribute("data-tiles-state", "loaded");
    });
    S.shops.addTo(S.map);
  }

  function loadOverlay(url) {
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (S.overlay) { S.map.removeLayer(S.overlay); S.overlay = null; }
        if (!data) { return; }
        S.overlay = L.geoJSON(data, {
          style: function (f) {
            return { color: colour(f.properties.colour), weight: 2, opacity: 0.75 };
          },
          pointToLayer: function (f, latlng) {
            var current = f.properties.current;
            return L.circleMarker(latlng, { pane: "plannerDepots", radius: current ? 9 : 6,
              color: "#111111", weight: 2, fillColor: current ? "#ffd400" : "#ffffff",
              fillOpacity: 1 }).bindTooltip(f.properties.name);
          },
          onEachFeature: function (f, layer) {
            if (f.properties.layer === "route") { layer.bindTooltip(f.properties.code); }
          },
        }).addTo(S.map);
      });
  }

  function refresh() {
    var p = panel();
    if (!p || !S.map) { return; }
    var query = p.getAttribute("data-query");
    if (query === S.query) { return; }
    S.query = query;
    loadShops(p.getAttribute("data-tiles"));
    loadOverlay(p.getAttribute("data-overlay"));
    var b = json(p, "data-bounds");
    if (b && b.length === 4) {
      S.map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [30, 30], maxZoom: 16 });
    }
    highlight([]);
    if (S.shape) { S.map.removeLayer(S.shape); S.shape = null; }
  }

  // -- a plan's routes ------------------------------------------------------------------
  function drawPlan(el) {
    var box = S.map.getContainer();
    if (S.plan) { S.map.removeLayer(S.plan); S.plan = null; }
    S.planEl = el;
    var config = el ? json(el, "data-plan-map") : null;
    var dashed = 0, solid = 0;
    if (config) {
      S.plan = L.featureGroup();
      (config.layers || []).forEach(function (layer) {
        var style = { pane: "plannerPlan", weight: layer.dashed ? 3 : 4 };
        if (layer.route !== undefined) { style.color = colour(layer.route); }
        var l = window.RGIS.buildLayer(Object.assign({}, layer, style));
        if (!l) { return; }
        S.plan.addLayer(l);
        if (layer.dashed) { dashed += 1; } else { solid += 1; }
      });
      S.plan.addTo(S.map); // the view stays as the planner left it
    }
    box.classList.toggle("plan-shown", dashed + solid > 0);
    box.setAttribute("data-plan-lines", String(dashed + solid));
    box.setAttribute("data-plan-dashed", String(dashed));
    box.setAttribute("data-plan-solid", String(solid));
  }

  // After a swap: the element just loaded with a plan's routes, else keep what is drawn
  // while its element is still on the page, else any other plan on it (or nothing).
  function syncPlan(node) {
    if (!S.map) { return; }
    var el = null;
    if (node && node.matches && node.matches("[data-plan-map]")) { el = node; }
    else if (node && node.querySelector) { el = node.querySelector("[data-plan-map]"); }
    if (!el) {
      if (S.planEl && document.body.contains(S.planEl)) { return; }
      var all = document.querySelectorAll("[data-plan-map]");
      el = all.length ? all[all.length - 1] : null;
    }
    if (el !== S.planEl || !el) { drawPlan(el); }
  }

  // -- selection ------------------------------------------------------------------------
  function highlight(ids) {
    if (S.shops) {
      S.selected.forEach(function (id) { S.shops.resetFeatureStyle(id); });
      ids.forEach(function (id) { S.shops.setFeatureStyle(id, SELECTED); });
    }
    S.selected = ids;
  }

  function submitPolygon(ring) {
    var input = document.getElementById("planner-polygon");
    var form = document.getElementById("planner-select-form");
    if (!input || !form) { return; }
    input.value = JSON.stringify({ type: "Polygon", coordinates: [ring] });
    form.requestSubmit();
  }

  function lnglat(ll) { return [Math.round(ll.lng * 1e7) / 1e7, Math.round(ll.lat * 1e7) / 1e7]; }

  function startDraw(e) {
    if (e.button !== 0 || !(e.shiftKey || S.mode)) { return; }
    if (e.target.closest && e.target.closest(".leaflet-control")) { return; }
    e.preventDefault();
    e.stopPropagation(); // Leaflet (dragging, box zoom) never sees this gesture
    var map = S.map;
    var lasso = S.mode === "lasso" && !e.shiftKey;
    var start = map.mouseEventToLatLng(e);
    var startPx = map.mouseEventToContainerPoint(e);
    var points = [start];
    var endPx = startPx;
    var style = { pane: "plannerDraw", color: "#111111", weight: 2, dashArray: "5 4",
      fillColor: "#ffeb3b", fillOpacity: 0.15, interactive: false };
    if (S.shape) { map.removeLayer(S.shape); }
    S.shape = (lasso ? L.polygon([start], style) : L.rectangle([start, start], style)).addTo(map);
    function move(ev) {
      var ll = map.mouseEventToLatLng(ev);
      endPx = map.mouseEventToContainerPoint(ev);
      if (lasso) { points.push(ll); S.shape.addLatLng(ll); }
      else { points = [start, ll]; S.shape.setBounds(L.latLngBounds(start, ll)); }
    }
    function up() {
      document.removeEventListener("mousemove", move, true);
      document.removeEventListener("mouseup", up, true);
      if (startPx.distanceTo(endPx) < 4 || points.length < 2) {
        map.removeLayer(S.shape); S.shape = null; return;
      }
      var ring;
      if (lasso) {
        ring = points.map(lnglat);
      } else {
        var b = L.latLngBounds(points[0], points[1]);
        ring = [b.getSouthWest(), b.getSouthEast(), b.getNorthEast(), b.getNorthWest()].map(lnglat);
      }
      ring.push(ring[0]);
      submitPolygon(ring);
    }
    document.addEventListener("mousemove", move, true);
    document.addEventListener("mouseup", up, true);
  }

  var Modes = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      var div = L.DomUtil.create("div", "planner-modes leaflet-bar");
      [["rect", "框选"], ["lasso", "套索"]].forEach(function (m) {
        var b = L.DomUtil.create("button", "", div);
        b.type = "button";
        b.textContent = m[1];
        b.setAttribute("data-mode", m[0]);
        b.title = m[0] === "rect" ? "拖动鼠标框选（也可按住 Shift 拖动）" : "按住鼠标圈出范围";
        L.DomEvent.on(b, "click", function () { setMode(S.mode === m[0] ? null : m[0]); });
      });
      L.DomEvent.disableClickPropagation(div);
      return div;
    },
  });

  function setMode(mode) {
    S.mode = mode;
    var el = S.map.getContainer();
    el.classList.toggle("drawing", !!mode);
    el.querySelectorAll(".planner-modes button").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-mode") === mode);
    });
  }

  // -- start ----------------------------------------------------------------------------
  function init() {
    var el = document.getElementById("planner-map");
    if (!el || el.rgisMap || !window.RGIS || !L.vectorGrid) { return; }
    var b = json(panel(), "data-bounds");
    var config = b && b.length === 4 ? { center: [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], zoom: 12 } : {};
    var map = (S.map = window.RGIS.createMap(el, config));
    map.boxZoom.disable(); // shift-drag selects shops here
    map.createPane("plannerPlan");
    map.createPane("plannerShops");
    map.createPane("plannerDepots");
    map.createPane("plannerDraw");
    new Modes().addTo(map);
    el.addEventListener("mousedown", startDraw, true);
    document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { setMode(null); } });
    refresh();
    syncPlan(document.body);
    var plan = document.getElementById("plan-box"); // the plan of the address (a reload)
    if (plan) { plan.scrollIntoView({ block: "start" }); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    init();
    if (!window.htmx) { return; }
    window.htmx.onLoad(function (node) {
      if (!node.querySelector) { return; }
      if (node.id === "planner-panel") { refresh(); }
      var box = node.id === "selection-box" ? node : node.querySelector("#selection-box");
      if (box) { highlight(json(box, "data-selected") || []); }
      syncPlan(node);
    });
  });
})();
