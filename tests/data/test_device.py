"""Batches come out of the on-device data ready to train on."""

import torch

from rotnet.data.device import DeviceDataset
from rotnet.params import AugmentParams
from tests.synthetic import dataset

CPU = torch.device("cpu")
PLAIN = AugmentParams(crop_padding=0, flip=False)


def _keys(x: torch.Tensor) -> list[bytes]:
    return sorted(bytes(img.numpy()) for img in x)


def test_sharded_batches_are_disjoint_and_cover_the_global_batch():
    data = DeviceDataset.from_prepared(dataset(), CPU)
    parts = [list(data.train.train_batches(64, PLAIN, 4, seed=5, epoch=1, shard=(rank, 2))) for rank in range(2)]
    whole = list(data.train.train_batches(64, PLAIN, 4, seed=5, epoch=1))
    assert len(whole) == len(data.train) // 64  # full batches only
    for a, b, w in zip(parts[0], parts[1], whole, strict=True):
        assert len(a.x) == len(b.x) == 32
        assert not set(_keys(a.x)) & set(_keys(b.x))
        assert _keys(torch.cat([a.x, b.x])) == _keys(w.x)


def test_batches_are_normalised_and_follow_the_seed_and_epoch():
    prepared = dataset()
    data = DeviceDataset.from_prepared(prepared, CPU)
    first = next(data.train.train_batches(32, AugmentParams(), 4, seed=1, epoch=3))
    again = next(data.train.train_batches(32, AugmentParams(), 4, seed=1, epoch=3))
    other = next(data.train.train_batches(32, AugmentParams(), 4, seed=1, epoch=4))
    assert first.x.dtype == torch.float32 and first.mixed is None and first.targets is first.y
    assert torch.equal(first.x, again.x) and torch.equal(first.y, again.y)  # a resumed epoch redraws the same
    assert not torch.equal(first.x, other.x)
    # Normalised with the train split's statistics: an unaugmented pass over train is ~N(0, 1) per channel.
    whole = torch.cat([b.x for b in data.train.eval_batches(256)])
    assert whole.mean(dim=(0, 2, 3)).abs().max() < 1e-3
    assert (whole.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-2


def test_eval_batches_cover_the_split_in_order_without_augmentation():
    prepared = dataset()
    data = DeviceDataset.from_prepared(prepared, CPU)
    labels = torch.cat([b.y for b in data.val.eval_batches(50)])
    assert torch.equal(labels, torch.from_numpy(prepared.val.labels))


def test_cutmix_batches_carry_soft_targets():
    data = DeviceDataset.from_prepared(dataset(), CPU, channels_last=True)
    cfg = AugmentParams(cutmix_prob=1.0)
    batch = next(data.train.train_batches(32, cfg, 4, seed=0, epoch=1))
    assert batch.mixed is not None and batch.targets is batch.mixed
    assert batch.mixed.shape == (32, 4) and torch.allclose(batch.mixed.sum(1), torch.ones(32))
    assert batch.x.is_contiguous(memory_format=torch.channels_last)


def test_an_epoch_of_epoch_size_images_cycles_seeded_permutations():
    prepared = dataset(n_train=40)
    data = DeviceDataset.from_prepared(prepared, CPU)
    assert data.train.epoch_steps(32, None) == 1 and data.train.epoch_steps(32, 200) == 6
    batches = list(data.train.train_batches(32, PLAIN, 4, seed=2, epoch=1, epoch_size=200))
    assert len(batches) == 6  # 200 // 32 full batches from a set of 40 images
    seen = torch.cat([b.y for b in batches])
    # Every image appears once per pass through a permutation: counts differ by at most one.
    per_image = torch.cat(
        [
            torch.stack([(b.x == img).flatten(1).all(1) for img in data.train.normalize(data.train.images)], 1)
            for b in batches
        ]
    ).sum(0)
    assert per_image.min() >= 4 and per_image.max() <= 5 and len(seen) == 192
    # The first pass is the one-pass order: a fixed epoch size extends it, never reshuffles it.
    one_pass = next(data.train.train_batches(32, PLAIN, 4, seed=2, epoch=1))
    assert torch.equal(one_pass.x, batches[0].x)
    # A labelled set smaller than one batch still trains.
    tiny = DeviceDataset.from_prepared(dataset(n_train=12), CPU)
    assert len(list(tiny.train.train_batches(32, PLAIN, 4, seed=0, epoch=1, epoch_size=64))) == 2


def test_two_view_batches_follow_the_training_order_and_seeds_and_normalise_like_it():
    from rotnet.data.views import ViewParams

    data = DeviceDataset.from_prepared(dataset(), CPU)
    simclr = (ViewParams(), ViewParams())
    first = list(data.train.view_batches(32, simclr, seed=1, epoch=3))
    again = next(data.train.view_batches(32, simclr, seed=1, epoch=3))
    assert len(first) == len(data.train) // 32 and first[0].views[0].shape == (32, 3, 16, 16)
    assert all(torch.equal(a, b) for a, b in zip(first[0].views, again.views, strict=True))  # a resume redraws them
    assert not torch.equal(first[0].views[0], first[0].views[1])
    assert not torch.equal(first[0].views[0], next(data.train.view_batches(32, simclr, seed=1, epoch=4)).views[0])
    # The images of train_batches' epoch, in its order.
    order = [b.y for b in data.train.train_batches(32, PLAIN, 4, seed=1, epoch=3)]
    assert all(torch.equal(v.y, y) for v, y in zip(first, order, strict=True))
    # A view with nothing random is the plain normalised image, as the training batches give it.
    still = ViewParams(scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_prob=0, jitter_prob=0, gray_prob=0)
    view = next(data.train.view_batches(32, (still, still), seed=1, epoch=3))
    plain = next(data.train.train_batches(32, PLAIN, 4, seed=1, epoch=3))
    assert torch.allclose(view.views[0], plain.x, atol=1e-4) and torch.allclose(view.views[1], plain.x, atol=1e-4)
    # Each process its share of every batch, views drawn from its own stream.
    halves = [next(data.train.view_batches(32, simclr, seed=1, epoch=3, shard=(r, 2))) for r in range(2)]
    assert torch.equal(torch.cat([h.y for h in halves]).sort().values, first[0].y.sort().values)
    # epoch_size: the same cycled order as train_batches' (a quick run's short epochs).
    short = [v.y for v in data.train.view_batches(32, simclr, seed=1, epoch=3, epoch_size=400)]
    cycled = [b.y for b in data.train.train_batches(32, PLAIN, 4, seed=1, epoch=3, epoch_size=400)]
    assert len(short) == 400 // 32 and all(torch.equal(a, b) for a, b in zip(short, cycled, strict=True))
