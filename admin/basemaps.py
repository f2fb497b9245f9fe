"""Basemaps: tile URL templates for Leaflet and the coordinate system each one draws in.

Shops are stored in WGS-84. Tianditu (CGCS2000, within centimetres of WGS-84) and
OpenStreetMap draw in WGS-84; AMap draws in GCJ-02, so everything the admin puts on an
AMap basemap is converted to GCJ-02 on the way out and back to WGS-84 on the way in
(`to_display` / `from_display`). The default, ``offline``, loads no tiles at all: the
regions and the service area are drawn as the background, so the maps work without
network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from geo.crs import Crs, from_wgs84, to_wgs84

BASEMAPS = ("offline", "tianditu", "amap", "osm", "custom")


class BasemapError(ValueError):
    """A basemap setting is invalid; the message names the variable."""


@dataclass(frozen=True)
class TileLayer:
    url: str
    subdomains: str = ""
    max_zoom: int = 18


@dataclass(frozen=True)
class Basemap:
    name: str
    label: str
    crs: Crs = Crs.WGS84
    layers: tuple[TileLayer, ...] = ()
    attribution: str = ""
    origins: tuple[str, ...] = field(default=())

    def to_display(self, lng: float, lat: float) -> tuple[float, float]:
        return (lng, lat) if self.crs is Crs.WGS84 else from_wgs84(lng, lat, self.crs)

    def from_display(self, lng: float, lat: float) -> tuple[float, float]:
        return (lng, lat) if self.crs is Crs.WGS84 else to_wgs84(lng, lat, self.crs)

    def client_config(self) -> dict[str, Any]:
        """What map.js needs (no secrets beyond what the tile URL itself carries)."""
        return {
            "name": self.name,
            "label": self.label,
            "crs": str(self.crs),
            "attribution": self.attribution,
            "layers": [
                {"url": t.url, "subdomains": t.subdomains, "maxZoom": t.max_zoom}
                for t in self.layers
            ],
        }


def _origin(url: str) -> str:
    """The CSP source of a tile template (``{s}`` subdomains become a wildcard)."""
    parts = urlsplit(url.replace("{s}", "x"))
    host = parts.hostname or ""
    if "{s}" in url.split("/")[2]:
        host = "*." + host.split(".", 1)[1] if "." in host else host
    return f"{parts.scheme}://{host}"


def _with_origins(b: Basemap) -> Basemap:
    origins = tuple(sorted({_origin(t.url) for t in b.layers}))
    return Basemap(b.name, b.label, b.crs, b.layers, b.attribution, origins)


def make_basemap(
    name: str = "offline", *, tianditu_key: str = "", tile_url: str = "", tile_crs: str = "WGS84"
) -> Basemap:
    if name not in BASEMAPS:
        raise BasemapError(f"RETAILGIS_BASEMAP must be one of {', '.join(BASEMAPS)}, not {name!r}")
    if name == "offline":
        return Basemap("offline", "离线底图（行政区划）")
    if name == "tianditu":
        if not tianditu_key:
            raise BasemapError("RETAILGIS_BASEMAP=tianditu needs RETAILGIS_TIANDITU_KEY")
        wmts = (
            "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
            "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
            "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
        )
        layers = tuple(
            TileLayer(wmts.format(layer=layer, key=tianditu_key), "01234567")
            for layer in ("vec", "cva")
        )
        return _with_origins(Basemap("tianditu", "天地图矢量", Crs.WGS84, layers, "天地图"))
    if name == "amap":
        url = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
        return _with_origins(
            Basemap("amap", "高德地图（GCJ-02）", Crs.GCJ02, (TileLayer(url, "1234"),), "高德地图")
        )
    if name == "osm":
        url = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        osm = Basemap(
            "osm", "OpenStreetMap", Crs.WGS84, (TileLayer(url, "", 19),), "© OpenStreetMap"
        )
        return _with_origins(osm)
    if not tile_url.startswith(("https://", "http://")):
        raise BasemapError("RETAILGIS_BASEMAP=custom needs RETAILGIS_TILE_URL (http or https)")
    try:
        crs = Crs(tile_crs)
    except ValueError:
        raise BasemapError(
            f"RETAILGIS_TILE_CRS must be WGS84, GCJ02 or BD09, not {tile_crs!r}"
        ) from None
    if crs is Crs.BD09:
        raise BasemapError("BD-09 tiles use Baidu's own tiling, which Leaflet cannot draw")
    subdomains = "abc" if "{s}" in tile_url else ""
    return _with_origins(Basemap("custom", "自定义底图", crs, (TileLayer(tile_url, subdomains),)))
