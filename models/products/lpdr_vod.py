"""AMSR-E/AMSR2 vegetation optical depth of the LPDR v3 as ``vegetation_optical_depth`` records.

Layout: the Global Land Parameter Data Record version 3 (Du, Kimball, Jones et al., University
of Montana NTSG; distributed as GeoTIFF, ``LPDR_v3/GeoTif/YYYY/AMSRU_Mland_YYYYDDD[A|D].tif``),
one file per day and overpass (``A`` ascending, ``D`` descending) on the 25 km EASE-Grid, seven
float bands:

====  ======================================================  ============
band  parameter                                               units
====  ======================================================  ============
1     30-day smoothed open water fraction                     0-1
2     open water fraction                                     0-1
3     daily surface air temperature minimum or maximum        K
4     vertically integrated atmospheric water vapour          mm
5     vegetation optical depth at 10.7 GHz                    0-3
6     volumetric soil moisture                                cm3 cm-3
7     near-surface vapour pressure deficit                    kPa
====  ======================================================  ============

Missing values are -999 (and the file's ``GDAL_NODATA``); a VOD outside 0-3 is invalid; neither
becomes a record. The product gives neither an error nor a per-pixel flag in these files, so
``--error`` is required and every record is good (``qc = 0``).

Pixel centres come from the file's GeoTIFF georeferencing (ModelTiepoint, ModelPixelScale, the
EPSG code or a cylindrical equal-area definition in its GeoKeys); a file without it is taken on
the EASE-Grid 2.0 Global 25 km grid (EPSG:6933, 1388 x 584) when it has that size. The time of a
pixel is its overpass's local solar equator-crossing time (AMSR2 on GCOM-W1 and AMSR-E on Aqua:
13:30 ascending, 01:30 descending) on the file's day, converted to UTC at the pixel's longitude.

The GeoTIFF is read by a small baseline-TIFF reader here (strips or tiles, uncompressed or
deflate, integer or float samples): GDAL is not required. Other compressions are refused with
the file and the tag named (``gdal_translate -co COMPRESS=DEFLATE`` converts them).
"""

from __future__ import annotations

import re
import struct
from collections import Counter
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from pdafpy.errors import InputFileError

from .common import LONLAT, ProductObservations, ReadOptions, require, with_error_fallback
from .projection import is_geographic, transformer

__all__ = ["read", "read_geotiff", "GeoTiff", "VOD_BAND", "LPDR_BANDS"]

TYPE_NAME, UNITS = "vegetation_optical_depth", "1"
LPDR_BANDS, VOD_BAND = 7, 5
VOD_RANGE = (0.0, 3.0)
FILL = -999.0
#: Local solar time [h] of the equator crossing by overpass.
OVERPASS_LOCAL_HOUR = {"A": 13.5, "D": 1.5}
_NAME = re.compile(r"(\d{4})(\d{3})([AD])\.tiff?$", re.I)
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_TYPE_CODES = {1: "B", 2: "B", 3: "H", 4: "I", 6: "b", 7: "B", 8: "h", 9: "i", 11: "f", 12: "d"}
_SAMPLES = {(1, 8): "u1", (1, 16): "u2", (1, 32): "u4", (2, 8): "i1", (2, 16): "i2",
            (2, 32): "i4", (3, 32): "f4", (3, 64): "f8"}
_DEFLATE = (8, 32946)
_TAG_NAMES = {256: "ImageWidth", 257: "ImageLength"}


class GeoTiff:
    """A GeoTIFF's samples and georeferencing.

    Attributes
    ----------
    bands : (bands, rows, cols) ndarray
        The samples, row 0 at the top.
    crs : str
        The CRS of ``x``, ``y`` (an ``EPSG:`` code or a PROJ string); "" if the file has none.
    x, y : (cols,), (rows,) float ndarray or None
        Pixel-centre coordinates (None without georeferencing).
    nodata : float or None
        The ``GDAL_NODATA`` value.
    """

    def __init__(self, bands: np.ndarray, crs: str, x: np.ndarray | None,
                 y: np.ndarray | None, nodata: float | None):
        self.bands, self.crs, self.x, self.y, self.nodata = bands, crs, x, y, nodata


def read(path: Path | str, options: ReadOptions) -> ProductObservations:
    """The VOD retrievals of one LPDR v3 GeoTIFF (see the module notes).

    Raises
    ------
    InputFileError
        A file name without its day and overpass, an unreadable or unsupported TIFF, a wrong
        number of bands, missing georeferencing, naming the file and the field; ``--error``
        not given.
    """
    path = Path(path)
    match = _NAME.search(path.name)
    require(match is not None, path, "file name: expected the LPDR day and overpass "
            "..._YYYYDDD[A|D].tif (e.g. AMSRU_Mland_2017001A.tif)")
    year, day, overpass = int(match.group(1)), int(match.group(2)), match.group(3).upper()
    tiff = read_geotiff(path)
    count = tiff.bands.shape[0]
    require(count == LPDR_BANDS, path, f"TIFF samples per pixel: {count} bands, expected the "
            f"{LPDR_BANDS} LPDR v3 bands (vegetation optical depth is band {VOD_BAND})")
    crs, x, y = _georeference(path, tiff)
    vod = tiff.bands[VOD_BAND - 1].astype(float)
    fill = ~np.isfinite(vod) | (vod == FILL)
    if tiff.nodata is not None:
        fill |= vod == tiff.nodata
    rows, cols = np.nonzero(~fill)
    values = vod[rows, cols]
    valid = (values >= VOD_RANGE[0]) & (values <= VOD_RANGE[1])
    dropped = +Counter({"VOD is fill (-999)": int(fill.sum()),
                        "VOD outside 0-3": int((~valid).sum())})
    rows, cols, values = rows[valid], cols[valid], values[valid]
    lon, lat = _lonlat(crs, x[cols], y[rows])
    keep = (options.region.contains(lon, lat) if options.region is not None
            else np.ones(values.size, dtype=bool))
    day_start = datetime(year, 1, 1, tzinfo=timezone.utc) + timedelta(days=day - 1)
    time = (day_start.timestamp() + 3600.0 * OVERPASS_LOCAL_HOUR[overpass]
            - 240.0 * lon[keep])
    size = int(keep.sum())
    return ProductObservations(
        path, TYPE_NAME, UNITS, time_utc=time, x=lon[keep], y=lat[keep], crs=LONLAT,
        value=values[keep], error_std=with_error_fallback(np.full(size, np.nan), options, path,
                                                          ""),
        qc=np.zeros(size, dtype=np.int8), flagged_by=np.full(size, "", dtype=object),
        dropped=dropped, attributes={"source_product": "LPDR v3 AMSR-E/AMSR2 VOD (10.7 GHz)",
                                     "lpdr_overpass": overpass})


def _georeference(path: Path, tiff: GeoTiff) -> tuple[str, np.ndarray, np.ndarray]:
    """The CRS and pixel-centre coordinates, from the file or the EASE-2 25 km grid."""
    rows, cols = tiff.bands.shape[1:]
    if tiff.x is not None and tiff.crs:
        return tiff.crs, tiff.x, tiff.y
    from models.landda.ease2 import EASE2_CRS, ease2_grid

    ease = ease2_grid(25)
    require((rows, cols) == (ease.rows, ease.columns), path, "GeoTIFF georeferencing "
            "(ModelTiepoint/ModelPixelScale/GeoKeys) is missing and the raster is "
            f"{cols} x {rows}, not the EASE-2 25 km grid {ease.columns} x {ease.rows}")
    x, _ = ease.xy_of_rowcol(np.zeros(cols), np.arange(cols))
    _, y = ease.xy_of_rowcol(np.arange(rows), np.zeros(rows))
    return EASE2_CRS, x, y


def _lonlat(crs: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if is_geographic(crs):
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    lon, lat = transformer(crs, LONLAT).transform(x, y)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


# ----------------------------------------------------------------------------- GeoTIFF reading
def read_geotiff(path: Path) -> GeoTiff:
    """Samples and georeferencing of a baseline (Geo)TIFF (see the module notes).

    Raises
    ------
    InputFileError
        Not a TIFF, a truncated one, or one this reader does not decode, naming the file and
        the tag.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    require(order is not None and len(data) >= 8, path, "not a TIFF file (no II/MM header)")
    magic, offset = struct.unpack(order + "HI", data[2:8])
    require(magic == 42, path, f"TIFF header: version {magic} is not a classic TIFF (42; "
            "BigTIFF is not read)")
    tags = _ifd(path, data, order, offset)
    width, height = int(_one(path, tags, 256)), int(_one(path, tags, 257))
    samples = int(tags.get(277, [1])[0])
    bits = int(tags.get(258, [8])[0])
    kind = int(tags.get(339, [1])[0])
    dtype = _SAMPLES.get((kind, bits))
    require(dtype is not None, path, f"TIFF tag SampleFormat/BitsPerSample ({kind}, {bits}) "
            "is not a supported sample type")
    compression = int(tags.get(259, [1])[0])
    require(compression in (1, *_DEFLATE), path, f"TIFF tag Compression = {compression} is "
            "not read here (uncompressed or deflate; gdal_translate -co COMPRESS=DEFLATE "
            "converts, or read it with GDAL, Debian python3-gdal)")
    predictor = int(tags.get(317, [1])[0])
    require(predictor in (1, 2) and (predictor == 1 or kind != 3), path,
            f"TIFF tag Predictor = {predictor} is not read here (1, or 2 on integers)")
    planar = int(tags.get(284, [1])[0])
    dtype = np.dtype(dtype).newbyteorder(order)
    if 322 in tags:
        block_w, block_h = int(tags[322][0]), int(tags[323][0])
        offsets, counts = tags.get(324), tags.get(325)
    else:
        block_w, block_h = width, min(int(tags.get(278, [height])[0]), height)
        offsets, counts = tags.get(273), tags.get(279)
    require(offsets is not None and counts is not None and len(offsets) == len(counts), path,
            "TIFF tags StripOffsets/StripByteCounts (or TileOffsets/TileByteCounts) are "
            "missing or disagree")
    bands = _assemble(path, data, offsets, counts, compression, predictor, dtype, planar,
                      samples, width, height, block_w, block_h)
    crs, x, y = _geokeys(path, tags, width, height)
    nodata = tags.get(42113)
    try:
        nodata_value = float(nodata) if isinstance(nodata, str) and nodata.strip() else None
    except ValueError:
        nodata_value = None
    return GeoTiff(bands, crs, x, y, nodata_value)


def _ifd(path: Path, data: bytes, order: str, offset: int) -> dict[int, Any]:
    """The first image file directory: tag -> values (a tuple, or text for ASCII)."""
    require(offset + 2 <= len(data), path, "TIFF header: the image directory lies past the "
            "end of the file (truncated)")
    (count,) = struct.unpack(order + "H", data[offset:offset + 2])
    require(offset + 2 + 12 * count <= len(data), path, "TIFF image directory is truncated")
    tags: dict[int, Any] = {}
    for k in range(count):
        tag, typ, n, value = struct.unpack(order + "HHI4s", data[offset + 2 + 12 * k:
                                                                offset + 14 + 12 * k])
        size = _TYPE_SIZES.get(typ)
        if size is None:
            continue
        raw = value if n * size <= 4 else data[struct.unpack(order + "I", value)[0]:][:n * size]
        require(len(raw) >= n * size, path, f"TIFF tag {tag}: its values lie past the end of "
                "the file (truncated)")
        if typ == 2:
            tags[tag] = raw[:n].split(b"\0")[0].decode("latin-1")
        elif typ in (5, 10):
            pairs = struct.unpack(order + ("II" if typ == 5 else "ii") * n, raw[:8 * n])
            tags[tag] = tuple(a / b if b else np.nan for a, b in zip(pairs[::2], pairs[1::2]))
        else:
            tags[tag] = struct.unpack(order + _TYPE_CODES[typ] * n, raw[:n * size])
    return tags


def _one(path: Path, tags: dict[int, Any], tag: int) -> Any:
    require(tag in tags, path, f"TIFF tag {tag} ({_TAG_NAMES[tag]}) is missing")
    return tags[tag][0]


def _assemble(path: Path, data: bytes, offsets: tuple, counts: tuple, compression: int,
              predictor: int, dtype: np.dtype, planar: int, samples: int, width: int,
              height: int, block_w: int, block_h: int) -> np.ndarray:
    """The samples ``(bands, height, width)`` from the strips or tiles."""
    across = -(-width // block_w)
    down = -(-height // block_h)
    per_plane = across * down
    planes = samples if planar == 2 else 1
    per_block = samples if planar == 1 else 1
    require(len(offsets) == per_plane * planes, path, f"TIFF has {len(offsets)} strips/tiles, "
            f"expected {per_plane * planes} for {width} x {height} pixels")
    out = np.empty((planes, down * block_h, across * block_w, per_block), dtype=dtype)
    for k, (start, size) in enumerate(zip(offsets, counts)):
        plane, block = divmod(k, per_plane)
        raw = data[start:start + size]
        require(len(raw) == size, path, f"TIFF strip/tile {k} lies past the end of the file "
                "(truncated)")
        if compression in _DEFLATE:
            try:
                raw = zlib.decompress(raw)
            except zlib.error as exc:
                raise InputFileError(f"{path}: TIFF strip/tile {k}: deflate data are damaged "
                                     f"({exc})") from None
        r0, c0 = (block // across) * block_h, (block % across) * block_w
        rows = min(block_h, height - r0)
        values = np.frombuffer(raw, dtype=dtype)
        require(values.size >= rows * block_w * per_block, path, f"TIFF strip/tile {k} holds "
                f"{values.size} samples, expected {rows * block_w * per_block}")
        values = values[:rows * block_w * per_block].reshape(rows, block_w, per_block)
        if predictor == 2:
            values = np.cumsum(values, axis=1, dtype=dtype)
        out[plane, r0:r0 + rows, c0:c0 + block_w] = values
    out = out[:, :height, :width]
    return out[..., 0] if planar == 2 else np.moveaxis(out[0], -1, 0)


def _geokeys(path: Path, tags: dict[int, Any], width: int, height: int
             ) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """CRS and pixel-centre coordinates from the GeoTIFF tags ("" and None where absent)."""
    scale, tie, directory = tags.get(33550), tags.get(33922), tags.get(34735)
    if scale is None or tie is None or directory is None:
        return "", None, None
    keys = _geokey_values(path, directory, tags.get(34736, ()))
    area = keys.get(1025, 1) != 2
    shift = 0.5 if area else 0.0
    x = tie[3] + (np.arange(width) + shift - tie[0]) * scale[0]
    y = tie[4] - (np.arange(height) + shift - tie[1]) * scale[1]
    model = keys.get(1024)
    if model == 2 and keys.get(2048, 32767) != 32767:
        return f"EPSG:{int(keys[2048])}", x, y
    projected = keys.get(3072)
    if projected is not None and projected != 32767:
        return f"EPSG:{int(projected)}", x, y
    if keys.get(3075) == 28:                               # CT_CylindricalEqualArea
        ellipsoid = ("+datum=WGS84" if keys.get(2048) == 4326 or 2057 not in keys else
                     f"+a={keys[2057]} +rf={keys.get(2059, 0.0)}" if 2059 in keys else
                     f"+a={keys[2057]} +b={keys.get(2058, keys[2057])}")
        crs = (f"+proj=cea +lat_ts={keys.get(3078, 0.0)} "
               f"+lon_0={keys.get(3088, keys.get(3080, 0.0))} +x_0={keys.get(3082, 0.0)} "
               f"+y_0={keys.get(3083, 0.0)} {ellipsoid} +units=m +no_defs")
        return crs, x, y
    raise InputFileError(f"{path}: GeoTIFF GeoKeys: a CRS without an EPSG code that is not a "
                         "cylindrical equal-area projection (ProjCoordTransGeoKey 28)")


def _geokey_values(path: Path, directory: tuple, doubles: tuple) -> dict[int, float]:
    """GeoKey id -> value (SHORT values and GeoDoubleParams; ASCII keys are skipped)."""
    require(len(directory) >= 4 and len(directory) >= 4 * (1 + directory[3]), path,
            "GeoTIFF tag GeoKeyDirectory is truncated")
    keys: dict[int, float] = {}
    for k in range(directory[3]):
        key, location, _count, value = directory[4 + 4 * k: 8 + 4 * k]
        if location == 0:
            keys[key] = value
        elif location == 34736 and value < len(doubles):
            keys[key] = doubles[value]
    return keys
