"""Labelled image sets as users have them: YOLO txt labels or a COCO JSON file, read into one form.

YOLO: one ``<image stem>.txt`` per image (no file: no objects), lines ``class cx cy w h`` in fractions of the image;
class names from ``classes.txt`` (one a line) or a ``data.yaml`` ``names:`` entry beside the labels or one folder up.
COCO: ``images`` (``file_name``, ``width``, ``height``), ``annotations`` (``bbox`` = x, y, w, h in pixels,
``iscrowd`` ones left out and counted), ``categories`` (``id``, ``name``).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class DatasetError(ValueError):
    """A label set that cannot be read; the message names the file and what is wrong."""


@dataclass
class LabelledImage:
    """One image and its ground truth: boxes (G, 4) float64 x1, y1, x2, y2 in pixels, class names (G,)."""

    path: Path
    boxes: npt.NDArray[np.float64]
    classes: list[str]


@dataclass
class Dataset:
    """Images in name order with their ground truth; ``names``: every class the labels know, in their order."""

    images: list[LabelledImage]
    names: list[str]
    notes: list[str] = field(default_factory=list)  # what was left out, and why


def image_files(folder: Path) -> list[Path]:
    """The images of ``folder`` in name order."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def load(images: Path, labels: Path, names: list[str] | None = None) -> Dataset:
    """The labelled set of the ``images`` folder: ``labels`` is a COCO JSON file or a folder of YOLO txt files."""
    if labels.is_file():
        return _load_coco(images, labels)
    if labels.is_dir():
        return _load_yolo(images, labels, names)
    raise DatasetError(f"{labels}: no such labels file or folder")


def _yaml_names(text: str) -> list[str] | None:
    """``names:`` of an Ultralytics data.yaml: an inline list, or a block of ``- name`` / ``N: name`` lines."""
    m = re.search(r"^names:\s*(\[.*\]|\{.*\})\s*$", text, re.M)
    if m:
        val = ast.literal_eval(m.group(1))
        return [str(v) for v in (val.values() if isinstance(val, dict) else val)]
    block = re.search(r"^names:\s*\n((?:[ \t]+.*\n?)+)", text, re.M)
    if not block:
        return None
    out = []
    for line in block.group(1).splitlines():
        item = re.match(r"\s*(?:-|\d+\s*:)\s*(.+?)\s*$", line)
        if item:
            out.append(item.group(1).strip("'\""))
    return out or None


def yolo_names(labels: Path) -> list[str]:
    """Class names for a YOLO labels folder: classes.txt or data.yaml beside it or one folder up."""
    for folder in (labels, labels.parent):
        if (f := folder / "classes.txt").is_file():
            return [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
        for yaml in (folder / "data.yaml", folder / "dataset.yaml"):
            if yaml.is_file():
                try:
                    found = _yaml_names(yaml.read_text(encoding="utf-8"))
                except (ValueError, SyntaxError) as err:
                    raise DatasetError(f"{yaml}: unreadable names: {err}") from None
                if found:
                    return found
    raise DatasetError(f"{labels}: no classes.txt or data.yaml with names beside the labels (or give --names)")


def _load_yolo(images: Path, labels: Path, names: list[str] | None) -> Dataset:
    names = names or yolo_names(labels)
    out = []
    for img in image_files(images):
        shape = cv2.imread(str(img), cv2.IMREAD_UNCHANGED)
        if shape is None:
            raise DatasetError(f"{img}: not an image OpenCV can read")
        h, w = shape.shape[:2]
        txt = labels / f"{img.stem}.txt"
        rows = []
        if txt.is_file():
            for n, line in enumerate(txt.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    c, cx, cy, bw, bh = (float(v) for v in line.split()[:5])
                except ValueError:
                    raise DatasetError(f"{txt}:{n}: expected 'class cx cy w h', got {line!r}") from None
                if not 0 <= c < len(names) or c != int(c):
                    raise DatasetError(f"{txt}:{n}: class {c:g} is not one of the {len(names)} names")
                rows.append((int(c), cx, cy, bw, bh))
        a = np.asarray([r[1:] for r in rows], np.float64).reshape(-1, 4) * [w, h, w, h]
        boxes = np.concatenate([a[:, :2] - a[:, 2:] / 2, a[:, :2] + a[:, 2:] / 2], 1)
        out.append(LabelledImage(img, boxes, [names[r[0]] for r in rows]))
    return Dataset(out, list(names))


def _load_coco(images: Path, path: Path) -> Dataset:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        cats = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
        by_id = {int(i["id"]): str(i["file_name"]) for i in doc["images"]}
        anns = doc.get("annotations", [])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DatasetError(f"{path}: not a COCO detection file ({type(err).__name__}: {err})") from None
    per_image: dict[int, list[dict]] = {i: [] for i in by_id}
    crowd = 0
    for a in anns:
        if a.get("iscrowd"):
            crowd += 1
        elif int(a["image_id"]) in per_image:
            per_image[int(a["image_id"])].append(a)
    out = []
    for image_id in sorted(by_id):
        file = images / by_id[image_id]
        if not file.is_file():
            file = images / Path(by_id[image_id]).name
        if not file.is_file():
            raise DatasetError(f"{path}: image {by_id[image_id]!r} is not in {images}")
        xywh = np.asarray([a["bbox"] for a in per_image[image_id]], np.float64).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        out.append(LabelledImage(file, boxes, [cats[int(a["category_id"])] for a in per_image[image_id]]))
    notes = [f"{crowd} crowd annotations left out"] if crowd else []
    return Dataset(out, [cats[k] for k in sorted(cats)], notes)
