"""Readers on tiny files written here in the real on-disk formats, and their errors on broken files."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import scipy.io
import torch

from kdlib import data


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_read_idx_roundtrip(tmp_path):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    write_idx(tmp_path / "images", images)
    assert torch.equal(data.read_idx(tmp_path / "images"), torch.from_numpy(images))


def test_truncated_idx_is_named(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 4, 5), np.uint8))
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte is truncated"):
        data.read_idx(path)


def test_gzipped_idx_is_not_silently_read(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
    with pytest.raises(data.DataError, match="bad magic number"):
        data.read_idx(path)


def test_corrupt_file_fails_its_checksum(tmp_path):
    (tmp_path / "a").write_bytes(b"hello")
    good = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert data.verify_files(tmp_path, {"a": good, "b": good}) == ["b"]
    (tmp_path / "a").write_bytes(b"hellp")
    with pytest.raises(data.DataError, match=r"a is corrupt or truncated .* `python -m kdlib fetch`"):
        data.verify_files(tmp_path, {"a": good})


def test_pinned_checksums_are_the_real_ones():
    """The sha256 values that guard MNIST and Fashion-MNIST (recorded from the original files)."""
    mnist = data._info("mnist").files
    assert mnist["train-images-idx3-ubyte"] == \
        "sha256:ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
    assert data._info("fashion_mnist").files["t10k-labels-idx1-ubyte"] == \
        "sha256:0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"


def test_read_cifar_batches(tmp_path):
    rows = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3072) % 256
    with open(tmp_path / "data_batch_1", "wb") as handle:
        pickle.dump({"data": rows.astype(np.uint8), "labels": [3, 7]}, handle)
    images, labels = data.read_cifar_batches(tmp_path, ["data_batch_1"], "labels")
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == [3, 7]
    # channel-major rows: the first 1024 values are the red plane
    assert images[1, 0].flatten().tolist() == (rows[1, :1024]).tolist()
    assert images[1, 2, 0, 0].item() == rows[1, 2048]


def test_read_svhn_mat_maps_label_10_to_0(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3, 4), dtype=np.uint8)
    scipy.io.savemat(tmp_path / "train_32x32.mat", {"X": x, "y": np.array([[10], [1], [9], [10]])})
    images, labels = data.read_svhn_mat(tmp_path / "train_32x32.mat")
    assert labels.tolist() == [0, 1, 9, 0]
    assert images.shape == (4, 3, 32, 32)
    assert images[2, 1, 5, 7].item() == x[5, 7, 1, 2]


def test_offline_cifar_says_what_is_missing_and_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_try_torchvision_download", lambda name, root: None)
    with pytest.raises(data.DataError) as error:
        data.fetch("cifar10", tmp_path)
    message = str(error.value)
    assert "cifar10: missing data_batch_1" in message and "KDLIB_DATA" in message and "--data-root" in message
    assert "cifar-10-python.tar.gz" in message and "python -m kdlib fetch cifar10" in message


def test_load_cifar10_from_files_in_the_real_layout(tmp_path, monkeypatch):
    """With every file present and its checksum matching, load() reads the real on-disk layout."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": np.full((2, 3072), i, np.uint8), "labels": [i, 9 - i]}, handle)
    digests = {name: "md5:" + data._digest(folder / name, "md5") for name in names}
    real = data._info("cifar10")
    monkeypatch.setattr(data, "_info", lambda name: real.__class__(**{**real.__dict__, "files": digests}))
    loaded = data.load("cifar10", tmp_path)
    assert loaded.train_images.shape == (10, 3, 32, 32) and loaded.test_images.shape == (2, 3, 32, 32)
    assert loaded.train_labels.tolist() == [0, 9, 1, 8, 2, 7, 3, 6, 4, 5] and loaded.n_classes == 10


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        data.fetch("imagenet")


def test_validation_split_is_fixed_and_disjoint():
    train, val = data.split_indices(1000, 100, None)
    train2, val2 = data.split_indices(1000, 100, None)
    assert torch.equal(train, train2) and torch.equal(val, val2)
    assert len(set(train.tolist()) & set(val.tolist())) == 0 and len(train) + len(val) == 1000
    small_train, small_val = data.split_indices(1000, 100, subset=40)
    assert len(small_train) == 40 and len(small_val) == 10


def test_translation_moves_pixels_and_zero_fills():
    image = torch.zeros(1, 1, 5, 5, dtype=torch.uint8)
    image[0, 0, 2, 2] = 255
    generator = torch.Generator().manual_seed(0)
    shifted = data.random_translate(image.repeat(64, 1, 1, 1), 2, generator)
    positions = {tuple((s[0] == 255).nonzero()[0].tolist()) for s in shifted}
    assert positions <= {(r, c) for r in range(5) for c in range(5)}
    assert len(positions) > 10  # many different offsets
    assert (shifted.flatten(1).sum(1) == 255).all()  # one bright pixel, nothing wrapped around


def test_normalise():
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1)
    out = data.normalise(images, (0.5,), (0.25,))
    assert out.flatten().tolist() == [-2.0, 2.0]


def test_unknown_augmentation():
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
        data.augment(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), "rotate", torch.Generator())


def test_pairs_put_every_image_in_exactly_one_pair_with_label_10a_plus_b():
    # image i is filled with the value i, so each pair's channels say which two images it holds
    images = torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1).expand(20, 1, 3, 3).clone()
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4])
    paired, pair_labels = data.pair_up(images, labels, seed=1)
    assert paired.shape == (10, 2, 3, 3) and paired.dtype == torch.uint8
    first, second = paired[:, 0, 0, 0].long(), paired[:, 1, 0, 0].long()
    assert sorted([*first.tolist(), *second.tolist()]) == list(range(20))  # each image once, in one pair
    assert (paired[:, 0] == first.view(-1, 1, 1)).all() and (paired[:, 1] == second.view(-1, 1, 1)).all()
    assert pair_labels.tolist() == [10 * labels[a].item() + labels[b].item() for a, b in zip(first, second)]
    again, _ = data.pair_up(images, labels, seed=1)
    other, _ = data.pair_up(images, labels, seed=2)
    assert torch.equal(paired, again) and not torch.equal(paired, other)  # fixed by its seed, not a run's


def test_a_shift_or_a_mirror_moves_both_garments_of_a_pair_together():
    pair = torch.zeros(1, 2, 6, 6, dtype=torch.uint8)
    pair[0, 0, 1, 1] = pair[0, 1, 1, 1] = 255
    for _ in range(5):
        moved = data.augment(pair.repeat(8, 1, 1, 1), "crop_flip", torch.Generator().manual_seed(_))
        assert torch.equal(moved[:, 0], moved[:, 1])  # the same offset and flip for both channels


def test_the_pairs_are_read_from_fashion_mnists_files_and_fetch_nothing_else(tmp_path, monkeypatch):
    folder = tmp_path / "FashionMNIST" / "raw"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (8, 28, 28)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (4, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 4)}
    for name, array in arrays.items():
        write_idx(folder / name, array)
    digests = {name: "sha256:" + data._digest(folder / name, "sha256") for name in arrays}
    real = data._info
    monkeypatch.setattr(data, "_info", lambda name: real(name).__class__(**{**real(name).__dict__, "files": digests}))
    monkeypatch.setattr(data, "_try_torchvision_download", lambda name, root: pytest.fail("nothing is downloaded"))
    pairs = data.load("fashion_pairs", tmp_path)
    assert pairs.train_images.shape == (4, 2, 28, 28) and pairs.test_images.shape == (2, 2, 28, 28)
    assert pairs.n_classes == 100 and pairs.image_shape == (2, 28, 28) and len(pairs.mean) == 2
    expected_images, expected_labels = data.pair_up(torch.from_numpy(arrays["t10k-images-idx3-ubyte"].astype(np.uint8))
                                                    .unsqueeze(1), torch.from_numpy(arrays["t10k-labels-idx1-ubyte"]),
                                                    data.PAIR_SEEDS["test"])
    assert torch.equal(pairs.test_images, expected_images) and torch.equal(pairs.test_labels, expected_labels)
    assert data.absent("fashion_pairs", tmp_path) is None
