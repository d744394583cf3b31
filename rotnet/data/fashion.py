"""Fashion-MNIST: the four official IDX files, downloaded (MD5-checked) or read from a folder.

IDX is a tiny format: a 4-byte big-endian magic (0x0000 0x08 = unsigned bytes, then the number of
dimensions), one big-endian uint32 per dimension, then the values row-major. It is parsed here with
numpy straight from the header, so a damaged file is reported by name instead of as a shape error.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np

from rotnet.data import cifar
from rotnet.data.prepared import Split
from rotnet.data.split import SourceSplits
from rotnet.errors import RotnetError

FASHION_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# The official files and their md5s, as torchvision.datasets.FashionMNIST lists them.
FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FASHION_DIR = "fashion_mnist"  # under download_dir
OFFICIAL = "Fashion-MNIST (official)"
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N)
IMAGE_SIDE = 28
# (images, labels) file names without .gz, per split.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def fashion_urls() -> list[str]:
    return [FASHION_MIRROR + f for f in FASHION_MD5]


def _fix(name: str) -> str:
    return (
        "delete it and download it again "
        f"(`rotnet data add {name} --replace`), or add a folder of good copies "
        f"(`rotnet data add {name} PATH --replace`, source: idx)"
    )


def parse_idx(data: bytes, magic: int, shown: str, name: str = "fashion_mnist") -> np.ndarray:
    """Parse IDX bytes (gzip-compressed or not) whose header must carry ``magic``; uint8 array."""
    if data[:2] == b"\x1f\x8b":  # gzip magic: decide by content, so a misnamed file still reads
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError; EOFError: truncated
            raise RotnetError(f"{shown} is not a readable gzip file ({err}); {_fix(name)}") from None
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise RotnetError(f"{shown} is truncated ({len(data)} bytes, shorter than its header); {_fix(name)}")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise RotnetError(
            f"{shown} has IDX magic 0x{found:08x}, expected 0x{magic:08x} (an "
            f"{'image' if magic == IMAGES_MAGIC else 'label'} file of unsigned bytes); it is damaged or "
            f"a different file: {_fix(name)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(dims)  # Python ints: bogus huge dims cannot overflow
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise RotnetError(
            f"{shown} is {state}: its header promises {'x'.join(map(str, dims))} values "
            f"({expected} bytes with the header) but it has {len(data)} bytes; {_fix(name)}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find(folder: Path, base: str) -> Path | None:
    for candidate in (folder / f"{base}.gz", folder / base):
        if candidate.is_file():
            return candidate
    return None


def load_idx_folder(folder: Path, name: str = "fashion_mnist") -> SourceSplits:
    """Read the four Fashion-MNIST IDX files (``.gz`` or uncompressed) from ``folder``.

    The checksum is a sha256 over the four decompressed files in the official order, so a
    downloaded copy and an uncompressed copy of the same data agree.
    """
    if not folder.is_dir():
        raise RotnetError(
            f"{folder} is not a folder; add the folder that holds the four "
            "Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) with `rotnet data add {name} FOLDER`"
        )
    files = {base: _find(folder, base) for pair in SPLIT_FILES.values() for base in pair}
    missing = [base for base, found in files.items() if found is None]
    if missing:
        raise RotnetError(
            f"{folder} lacks the Fashion-MNIST file(s) {missing} (.gz or uncompressed); put them there "
            f"(from {FASHION_MIRROR}) or use datasets.{name}.source: download"
        )
    sha = hashlib.sha256()
    splits: dict[str, Split] = {}
    for split, (images_base, labels_base) in SPLIT_FILES.items():
        images_path, labels_path = files[images_base], files[labels_base]
        assert images_path is not None and labels_path is not None  # checked above
        images = parse_idx(images_path.read_bytes(), IMAGES_MAGIC, str(images_path), name)
        labels = parse_idx(labels_path.read_bytes(), LABELS_MAGIC, str(labels_path), name)
        if images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise RotnetError(
                f"{images_path} holds {images.shape[1]}x{images.shape[2]} images, but Fashion-MNIST images "
                f"are {IMAGE_SIDE}x{IMAGE_SIDE}; {_fix(name)}"
            )
        if len(images) != len(labels):
            raise RotnetError(
                f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels; the "
                f"two files must come from the same release: {_fix(name)}"
            )
        if len(labels) and labels.max() >= len(FASHION_CLASSES):
            raise RotnetError(
                f"{labels_path} has label {int(labels.max())}, outside 0..{len(FASHION_CLASSES) - 1}; {_fix(name)}"
            )
        for array in (images, labels):
            sha.update(array.tobytes())
        # frombuffer arrays are read-only views of the file bytes: copy into ordinary arrays.
        splits[split] = Split(images[..., None].copy(), labels.astype(np.int64))
    return SourceSplits(
        train=splits["train"],
        test=splits["test"],
        class_names=list(FASHION_CLASSES),
        checksum={"algorithm": "sha256", "value": sha.hexdigest()},
    )


def official_files(folder: Path) -> tuple[bool, str]:
    """Whether ``folder`` holds the four official .gz files (each md5 equal to ``FASHION_MD5``'s),
    and how that was decided. The official md5s are of the .gz files: uncompressed copies, or
    files gzipped again, cannot be told apart from other images and are not called official."""
    for filename, md5 in FASHION_MD5.items():
        path = folder / filename
        if not path.is_file():
            return False, f"no {filename} (the official md5s are of the .gz files)"
        actual = cifar.file_md5(path)
        if actual != md5:
            return False, f"{filename} has md5 {actual}, not the official {md5}"
    return True, "the md5s of the four .gz files equal the official ones"


def download_fashion_mnist(download_dir: Path, name: str = "fashion_mnist") -> Path:
    """Return ``download_dir/fashion_mnist`` holding the four official files, downloading missing ones."""
    folder = download_dir / FASHION_DIR
    for filename, md5 in FASHION_MD5.items():
        target = folder / filename
        if target.is_file():
            # An existing file is the user's: report a bad one, never overwrite it.
            actual = cifar.file_md5(target)
            if actual != md5:
                raise RotnetError(
                    f"{target} has md5 {actual}, but the official Fashion-MNIST {filename} has md5 {md5}: "
                    f"the file is incomplete, damaged or a different file. Delete it and download it again "
                    f"(`rotnet data add {name} --replace`), or add a folder of good copies with "
                    f"`rotnet data add {name} FOLDER --replace` and datasets.{name}.source: idx"
                )
            continue
        try:
            cifar.download_verified(FASHION_MIRROR + filename, target, md5)
        except cifar.DownloadFailed as err:
            urls = ", ".join(fashion_urls())
            raise RotnetError(
                f"could not download Fashion-MNIST {filename} ({err}); this machine may be offline. "
                f"Fetch the official files another way ({urls}) and put them in {folder} (each is used "
                f"when its md5 matches), or add a folder that holds them (.gz or uncompressed) with "
                f"`rotnet data add {name} FOLDER` and datasets.{name}.source: idx"
            ) from None
    return folder
