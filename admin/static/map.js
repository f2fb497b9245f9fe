// The one map island: every element with data-map='{"layers": [...], ...}' becomes a
// Leaflet map. Coordinates arrive already in the basemap's coordinate system (the server
// converts for GCJ-02 basemaps). Without configured tiles the regions and the service area
// (data-background on <body>) are drawn as the background, so maps work offline.
(function () {
  "use strict";
  var RGIS = (window.RGIS = window.RGIS || {});
  var backgroundData = null;

  function bodyData(name) {
    var raw = document.body.getAttribute(name);
    return raw ? (name === "data-background" ? raw : JSON.parse(raw)) : null;
  }

  function addBasemap(map) {
    var basemap = bodyData("data-basemap") || { layers: [] };
    basemap.layers.forEach(function (layer) {
      L.tileLayer(layer.url, {
        subdomains: layer.subdomains || "abc",
        maxZoom: layer.maxZoom || 18,
        attribution: basemap.attribution || "",
      }).addTo(map);
    });
    var url = bodyData("data-background");
    if (!url) { return; }
    var draw = function (data) {
      var bg = L.geoJSON(data, {
        interactive: false,
        style: function (f) {
          return f.properties.layer === "service_area"
            ? { color: "#1f5fa8", weight: 2, dashArray: "6 4", fill: false }
            : { color: "#8a94a6", weight: 1, fillColor: f.properties.urban ? "#e7ecf3" : "#f1f4ec", fillOpacity: basemap.layers.length ? 0.1 : 0.8 };
        },
      });
      bg.addTo(map).bringToBack();
      map.rgisBackground = bg;
      if (map.rgisFitBackground && bg.getBounds().isValid()) { map.fitBounds(bg.getBounds()); }
    };
    if (backgroundData) { draw(backgroundData); return; }
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { backgroundData = data; draw(data); } });
  }

  var builders = {
    // {kind:"points", points:[{lng, lat, label, color, radius}]}
    points: function (layer) {
      return L.featureGroup(layer.points.map(function (p) {
        var m = L.circleMarker([p.lat, p.lng], {
          radius: p.radius || 6, color: p.color || "#1f5fa8", weight: 2,
          fillColor: p.color || "#1f5fa8", fillOpacity: 0.8,
        });
        if (p.label) { m.bindTooltip(p.label, { permanent: !!layer.permanentLabels }); }
        return m;
      }));
    },
    // {kind:"line", coordinates:[[lng, lat], ...], color, dashed, weight, pane}
    line: function (layer) {
      return L.polyline(layer.coordinates.map(function (c) { return [c[1], c[0]]; }), {
        color: layer.color || "#1f5fa8", weight: layer.weight || 3,
        dashArray: layer.dashed ? "6 6" : null, opacity: 0.85, pane: layer.pane || "overlayPane",
      });
    },
    // {kind:"geojson", data: FeatureCollection, color}
    geojson: function (layer) {
      return L.geoJSON(layer.data, {
        style: function (f) { return { color: (f.properties && f.properties.color) || layer.color || "#1f5fa8", weight: 3 }; },
        pointToLayer: function (f, latlng) {
          return L.circleMarker(latlng, { radius: 5, color: (f.properties && f.properties.color) || layer.color || "#1f5fa8", fillOpacity: 0.8 });
        },
      });
    },
  };

  // One layer of a map island's config as a Leaflet layer (null for an unknown kind): the
  // planner's map draws a plan's routes with the same builders as the approval queue.
  RGIS.buildLayer = function (layer) {
    var build = builders[layer.kind];
    return build ? build(layer) : null;
  };

  RGIS.createMap = function (el, config) {
    var map = L.map(el, { preferCanvas: true, zoomControl: true, attributionControl: true });
    // A view before any layer: Leaflet queues layers added to a map without one, and a
    // path can then come before the canvas it is drawn on (a map built in a part of the
    // page htmx swapped in, with the regions already fetched, failed so).
    map.setView([35, 105], 4, { animate: false });
    map.attributionControl.setPrefix(false);
    addBasemap(map);
    var bounds = null;
    (config.layers || []).forEach(function (layer) {
      var l = RGIS.buildLayer(layer);
      if (!l) { return; }
      l.addTo(map);
      if (l.getBounds) {
        var b = l.getBounds();
        if (b.isValid()) { bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast()); }
      }
    });
    if (config.center) {
      map.setView([config.center[1], config.center[0]], config.zoom || 13, { animate: false });
    } else if (bounds) {
      map.fitBounds(bounds.pad(0.3), { maxZoom: config.maxFitZoom || 16, animate: false });
    } else {
      map.rgisFitBackground = true; // fitted to the regions once they arrive (or now)
      var drawn = map.rgisBackground && map.rgisBackground.getBounds();
      if (drawn && drawn.isValid()) { map.fitBounds(drawn, { animate: false }); }
    }
    if (config.legend) {
      var legend = L.control({ position: "bottomleft" });
      legend.onAdd = function () {
        var div = L.DomUtil.create("div", "map-legend");
        div.textContent = config.legend;
        return div;
      };
      legend.addTo(map);
    }
    el.rgisMap = map;
    el.dispatchEvent(new CustomEvent("rgis:map-ready", { bubbles: true, detail: { map: map } }));
    return map;
  };

  function init(root) {
    var els = root.querySelectorAll ? root.querySelectorAll("[data-map]") : [];
    if (root.matches && root.matches("[data-map]")) { els = [root].concat(Array.prototype.slice.call(els)); }
    Array.prototype.forEach.call(els, function (el) {
      if (el.rgisMap) { return; }
      RGIS.createMap(el, JSON.parse(el.getAttribute("data-map")));
    });
  }
  RGIS.initMaps = init;
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) { window.htmx.onLoad(init); } else { init(document); }
  });
})();
