/* The results map, as progressive enhancement. The page carries the places
   of its results as JSON (<script type="application/json" id="map-data">,
   which is data, never run); this script shows the "Show map" button and, on
   the first click, loads Leaflet from /static/vendor/leaflet and puts a
   marker on each place. Popups and labels are built from DOM nodes with
   textContent (listing titles are never read as HTML). With a tile URL
   configured (TILTS_MAP_TILES) the map shows its tiles; without one it draws
   a grid of latitude and longitude itself and needs no other host. Without
   this script the button and the map stay hidden and the list is the page. */
(function () {
  "use strict";
  var toggle = document.getElementById("map-toggle");
  var section = document.getElementById("map");
  var canvas = document.getElementById("map-canvas");
  var source = document.getElementById("map-data");
  if (!toggle || !section || !canvas || !source || !window.Promise) {
    return;
  }
  var data;
  try {
    data = JSON.parse(source.textContent);
  } catch (e) {
    return;
  }
  if (!data || !Array.isArray(data.places) || !data.places.length) {
    return;
  }
  var own = document.currentScript && document.currentScript.src;
  var base = new URL("../vendor/leaflet/", own || new URL("/static/js/map.js", location.href)).href;
  var showLabel = toggle.textContent;
  var hideLabel = toggle.getAttribute("data-hide-label") || showLabel;
  var map = null, loading = null;
  var REMEMBER = "tilts.map";

  function tag(name, props, before) {
    return new Promise(function (resolve, reject) {
      var el = document.createElement(name);
      Object.keys(props).forEach(function (k) { el[k] = props[k]; });
      el.onload = resolve;
      el.onerror = reject;
      document.head.insertBefore(el, before || null);
    });
  }

  function leaflet() {
    if (!loading) {
      // Leaflet's stylesheet goes before the page's own map.css, which adjusts it.
      var ours = document.querySelector("link[href$='map.css']");
      loading = Promise.all([tag("link", {rel: "stylesheet", href: base + "leaflet.css"}, ours),
                             tag("script", {src: base + "leaflet.js"})])
        .then(function () { return window.L; });
    }
    return loading;
  }

  function text(name, className, content) {
    var el = document.createElement(name);
    el.className = className;
    el.textContent = content;
    return el;
  }

  function popup(place) {
    var box = document.createElement("div");
    box.className = "map-popup";
    if (place.name) {
      box.appendChild(text("p", "map-place", String(place.name)));
    }
    var list = document.createElement("ul");
    (Array.isArray(place.items) ? place.items : []).forEach(function (item) {
      var li = document.createElement("li");
      var link = text("a", "", String(item.title || item.id));
      link.href = "/o/" + encodeURIComponent(String(item.id));
      link.dir = "auto";
      li.appendChild(link);
      list.appendChild(li);
    });
    box.appendChild(list);
    return box;
  }

  function degrees(value, positive, negative) {
    var v = Math.round(value * 100) / 100;
    return v === 0 ? "0°" : Math.abs(v) + "°" + (v > 0 ? positive : negative);
  }

  function gridStep(zoom) {
    var z = Math.round(zoom);
    return z < 3 ? 30 : z < 5 ? 10 : z < 7 ? 5 : z < 9 ? 1 : z < 12 ? 0.5 : 0.1;
  }

  function gridLayer(L) {
    // A light grid of meridians and parallels, drawn on canvas tiles in the
    // page: the offline map's background (gridLabels names its lines).
    var Grid = L.GridLayer.extend({
      createTile: function (coords) {
        var size = this.getTileSize(), ratio = window.devicePixelRatio || 1;
        var tile = document.createElement("canvas");
        tile.width = size.x * ratio;
        tile.height = size.y * ratio;
        var ctx = tile.getContext("2d");
        ctx.scale(ratio, ratio);
        var map = this._map, origin = coords.scaleBy(size), step = gridStep(coords.z);
        var nw = map.unproject(origin, coords.z), se = map.unproject(origin.add(size), coords.z);
        ctx.strokeStyle = "#c5d3de";
        ctx.lineWidth = 1;
        var i, at;
        for (i = Math.ceil(nw.lng / step); i * step <= se.lng; i++) {
          at = Math.round(map.project([0, i * step], coords.z).x - origin.x) + 0.5;
          ctx.beginPath(); ctx.moveTo(at, 0); ctx.lineTo(at, size.y); ctx.stroke();
        }
        for (i = Math.ceil(se.lat / step); i * step <= nw.lat; i++) {
          at = Math.round(map.project([i * step, 0], coords.z).y - origin.y) + 0.5;
          ctx.beginPath(); ctx.moveTo(0, at); ctx.lineTo(size.x, at); ctx.stroke();
        }
        return tile;
      }
    });
    return new Grid({minZoom: 1, maxZoom: 18});
  }

  function gridLabels(L, map) {
    // The degrees of the grid's lines along the top and right edges of the map.
    var box = L.DomUtil.create("div", "map-grid-labels", map.getContainer());
    box.setAttribute("aria-hidden", "true");
    function update() {
      while (box.firstChild) {
        box.removeChild(box.firstChild);
      }
      var bounds = map.getBounds(), size = map.getSize(), step = gridStep(map.getZoom()), i, at, label;
      for (i = Math.ceil(bounds.getWest() / step); i * step <= bounds.getEast(); i++) {
        at = map.latLngToContainerPoint([bounds.getCenter().lat, i * step]).x;
        if (at > 50 && at < size.x - 40) {
          label = box.appendChild(text("span", "map-grid-lon", degrees(((i * step + 540) % 360) - 180, "E", "W")));
          L.DomUtil.setPosition(label, L.point(at + 3, 2));
        }
      }
      for (i = Math.ceil(bounds.getSouth() / step); i * step <= bounds.getNorth(); i++) {
        at = map.latLngToContainerPoint([i * step, bounds.getCenter().lng]).y;
        if (at > 20 && at < size.y - 20) {
          label = box.appendChild(text("span", "map-grid-lat", degrees(i * step, "N", "S")));
          L.DomUtil.setPosition(label, L.point(size.x - label.offsetWidth - 4, at - 16));
        }
      }
    }
    map.on("moveend zoomend resize", update);
    update();
  }

  function declutter(markers) {
    // Names of places that would cover one another: the first keeps its name.
    var shown = [];
    markers.forEach(function (marker) {
      var tip = marker.getTooltip(), el = tip && tip.getElement();
      if (!el) {
        return;
      }
      el.style.visibility = "";
      var r = el.getBoundingClientRect();
      var covered = shown.some(function (o) {
        return r.left < o.right && o.left < r.right && r.top < o.bottom && o.top < r.bottom;
      });
      if (covered) {
        el.style.visibility = "hidden";
      } else {
        shown.push(r);
      }
    });
  }

  function credit(L) {
    var Credit = L.Control.extend({
      options: {position: "bottomright"},
      onAdd: function () {
        var box = L.DomUtil.create("div", "leaflet-control-attribution");
        var link = text("a", "", "Leaflet");
        link.href = "https://leafletjs.com/";
        box.appendChild(link);
        if (data.attribution) {
          box.appendChild(document.createTextNode(" | " + String(data.attribution)));
        }
        return box;
      }
    });
    return new Credit();
  }

  function draw(L) {
    if (map) {
      map.invalidateSize();
      return;
    }
    map = L.map(canvas, {attributionControl: false, zoomControl: false, worldCopyJump: true, minZoom: 1,
                         zoomSnap: 0.5});
    L.control.zoom({zoomInTitle: section.getAttribute("data-zoom-in") || "+",
                    zoomOutTitle: section.getAttribute("data-zoom-out") || "-"}).addTo(map);
    if (data.tiles) {
      L.tileLayer(String(data.tiles), {maxZoom: 19}).addTo(map);
    } else {
      gridLayer(L).addTo(map);
    }
    credit(L).addTo(map);
    var images = base + "images/";
    var icon = L.icon({iconUrl: images + "marker-icon.png", iconRetinaUrl: images + "marker-icon-2x.png",
                       shadowUrl: images + "marker-shadow.png", iconSize: [25, 41], iconAnchor: [12, 41],
                       popupAnchor: [1, -34], tooltipAnchor: [12, -20], shadowSize: [41, 41]});
    var points = [], markers = [];
    data.places.forEach(function (place) {
      if (typeof place.lat !== "number" || typeof place.lon !== "number") {
        return;
      }
      var name = String(place.name || "");
      var marker = L.marker([place.lat, place.lon], {icon: icon, alt: name, title: name, keyboard: true});
      marker.bindPopup(popup(place), {maxWidth: 260});
      if (!data.tiles && place.label) {  // no map to read the place from: say it
        marker.bindTooltip(text("span", "", String(place.label)),
                           {permanent: true, direction: "right", className: "map-label"});
      }
      marker.addTo(map);
      markers.push(marker);
      points.push([place.lat, place.lon]);
    });
    if (points.length === 1) {
      map.setView(points[0], 7);
    } else {
      map.fitBounds(points, {padding: [40, 40], maxZoom: 9});
    }
    if (!data.tiles) {
      gridLabels(L, map);
      map.on("zoomend", function () { declutter(markers); });
      declutter(markers);
    }
  }

  function setOpen(open) {
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    toggle.textContent = open ? hideLabel : showLabel;
    section.hidden = !open;
    try {
      sessionStorage.setItem(REMEMBER, open ? "1" : "");
    } catch (e) { /* storage refused: the choice is not remembered */ }
    if (open) {
      leaflet().then(draw, function () {  // Leaflet could not be loaded: the list is still there
        section.setAttribute("data-failed", "true");
      });
    }
  }

  toggle.hidden = false;
  toggle.addEventListener("click", function () {
    setOpen(toggle.getAttribute("aria-expanded") !== "true");
  });
  try {
    if (sessionStorage.getItem(REMEMBER) === "1") {  // the map was open on the last page
      setOpen(true);
    }
  } catch (e) { /* no storage: the map starts closed */ }
})();
