"""Image-folder datasets: train/<class>/* and test/<class>/*, as a folder or a .tar.gz/.tgz/.zip."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from rotnet.data.archives import FileTree, is_archive, open_tree
from rotnet.data.prepared import Split
from rotnet.data.split import SourceSplits
from rotnet.errors import RotnetError
from rotnet.progress import progress

IMAGE_SPLITS = ("train", "test")
LAYOUT = "train/<class>/<image> and test/<class>/<image> (optionally under one top folder)"


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def _visible(name: str) -> bool:
    # Skip .DS_Store, ._resource forks, __MACOSX/ and the like that archivers and file browsers add.
    return not any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


def _dataset_root(tree: FileTree) -> str:
    """'' when train/ and test/ are at the top, or the single top folder that wraps them."""
    if {"train", "test"} & tree.dirs:
        return ""
    tops = {n.split("/")[0] for n in [*tree.files, *tree.dirs] if _visible(n)}
    if len(tops) == 1 and (top := tops.pop()) in tree.dirs:
        return top
    return ""


def _list_images(tree: FileTree, name: str) -> tuple[list[str], list[str], list[int], int]:
    """Class names (sorted train folders), image names with labels (train first), and #train."""
    root = _dataset_root(tree)

    def at(*parts: str) -> str:
        return "/".join((root, *parts) if root else parts)

    for split in IMAGE_SPLITS:
        if at(split) not in tree.dirs:
            raise RotnetError(
                f"{tree.shown(at(split))} is missing: datasets.{name}.path must hold {LAYOUT}; "
                "add the folder or point path at the right folder or archive"
            )
    depth = at("train").count("/") + 1  # path parts before <class>
    classes = {
        split: sorted(d.rpartition("/")[2] for d in tree.dirs if d.rpartition("/")[0] == at(split) and _visible(d))
        for split in IMAGE_SPLITS
    }
    if not classes["train"]:
        raise RotnetError(f"{tree.shown(at('train'))} has no class folders; expected {LAYOUT}")
    if classes["train"] != classes["test"]:
        only_train = sorted(set(classes["train"]) - set(classes["test"]))
        only_test = sorted(set(classes["test"]) - set(classes["train"]))
        raise RotnetError(
            f"{tree.shown(root)}: train and test must have the same class folders; only in train: "
            f"{only_train}, only in test: {only_test}. Add or remove class folders so both match"
        )
    by_folder: dict[tuple[str, str], list[str]] = {}
    for f in tree.files:
        parts = f.split("/")  # tree names are normalized POSIX paths
        # Files anywhere below <split>/<class>/ (like torchvision's ImageFolder), hidden ones skipped.
        if len(parts) > depth + 1 and _visible(f) and (not root or parts[0] == root):
            by_folder.setdefault((parts[depth - 1], parts[depth]), []).append(f)
    names: list[str] = []
    labels: list[int] = []
    n_train = 0
    for split in IMAGE_SPLITS:
        for label, cls in enumerate(classes["train"]):
            files = sorted(by_folder.get((split, cls), []))
            if not files:
                raise RotnetError(
                    f"class folder {tree.shown(at(split, cls))} is empty; add images to it or remove "
                    "the class from both train and test"
                )
            names += files
            labels += [label] * len(files)
        if split == "train":
            n_train = len(names)
    return classes["train"], names, labels, n_train


def _decode(data: bytes, shown: str, resize: int | None) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as img:
            # Keep 'L' for now: the dataset stays 1-channel only if every image is grayscale.
            img = img if img.mode == "L" else img.convert("RGB")
            if resize is not None:
                img = img.resize((resize, resize), Image.Resampling.BILINEAR)
            return np.asarray(img)
    except Exception as err:  # PIL raises many exception types for damaged or non-image files
        raise RotnetError(f"cannot read image {shown} ({type(err).__name__}: {err}); remove or replace it") from None


def _stack(arrays: list[np.ndarray], names: list[str], name: str, tree: FileTree) -> np.ndarray:
    first = arrays[0].shape[:2]
    for array, f in zip(arrays, names, strict=True):
        if array.shape[:2] != first:
            (h0, w0), (h1, w1) = first, array.shape[:2]
            raise RotnetError(
                f"images have different sizes, e.g. {tree.shown(names[0])} is {w0}x{h0} and {tree.shown(f)} "
                f"is {w1}x{h1}; set datasets.{name}.resize to resize all images to one size"
            )
    if all(a.ndim == 2 for a in arrays):
        return np.stack(arrays)[..., None]
    return np.stack([np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a for a in arrays])


def load_imagefolder(path: Path, name: str, resize: int | None = None) -> SourceSplits:
    """Read an image-folder dataset from a folder or an archive (read in place, never extracted).

    Images are converted to RGB, or kept 1-channel when every image is grayscale ('L');
    ``resize`` resizes each (bilinear) to resize x resize while decoding. The checksum is the
    archive's sha256, or for a folder a sha256 over its image paths and the sha256 of each image.
    """
    if not path.exists():
        raise RotnetError(f"datasets.{name}.path {path} does not exist; point it at a folder or archive with {LAYOUT}")
    if not path.is_dir() and not is_archive(path):
        raise RotnetError(f"datasets.{name}.path {path} is neither a folder nor a .tar.gz/.tgz/.tar/.zip archive")
    with open_tree(path) as tree:
        class_names, names, labels, n_train = _list_images(tree, name)
        decoded: dict[str, np.ndarray] = {}
        digests: dict[str, bytes] = {}
        # One thread: for small images per-image Python overhead dominates and threads only contend
        # for the GIL (decoding the 60,000 CIFAR-10 JPEGs: 3.4 s on 1 thread, 5.3 s on 2, 4.8 s on 4).
        for f, data in progress(tree.read(names), total=len(names), desc="decoding images"):
            decoded[f] = _decode(data, tree.shown(f), resize)
            if path.is_dir():
                digests[f] = hashlib.sha256(data).digest()
    images = _stack([decoded.pop(f) for f in names], names, name, tree)
    if path.is_dir():
        # Sorted (relative path, file sha256) pairs: the checksum changes when an image is added,
        # removed, renamed or edited, and not when the folder moves.
        sha = hashlib.sha256()
        for f in sorted(names):
            sha.update(f.encode() + b"\0" + digests[f])
        checksum = sha.hexdigest()
    else:
        checksum = file_sha256(path)
    label_array = np.asarray(labels, dtype=np.int64)
    return SourceSplits(
        train=Split(images[:n_train], label_array[:n_train]),
        test=Split(images[n_train:], label_array[n_train:]),
        class_names=class_names,
        checksum={"algorithm": "sha256", "value": checksum},
    )
