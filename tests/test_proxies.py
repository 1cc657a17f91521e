"""Proxy renderings, and their readers inverting them exactly."""

import numpy as np
import pytest

from sgt_probe.data import DataSpec, make_world
from sgt_probe.data.proxies import (
    INPAINT_FILL,
    PROXIES,
    SEG_PALETTE,
    inpaint_mask,
    read_depth,
    read_edges,
    read_segmentation,
    render_proxy,
)
from sgt_probe.data.render import OBJECT_COLORS


@pytest.fixture(scope="module", params=["shapes", "digits"])
def world_scenes(request):
    world = make_world(DataSpec(world=request.param, seed=1))
    return world, world.scenes(0, 12)


def test_segmentation_palette():
    assert (SEG_PALETTE[0] == 0).all()
    assert len({tuple(c) for c in SEG_PALETTE}) == len(SEG_PALETTE) >= 16
    objects = np.array(list(OBJECT_COLORS.values()))
    gaps = np.linalg.norm(SEG_PALETTE[:, None].astype(float) - objects[None], axis=-1)
    assert gaps.min() >= 80  # a segmentation map cannot be made by copying object colors


def test_maps_round_trip_exactly(world_scenes):
    world, scenes = world_scenes
    n_classes = len(world.class_names)
    for s in scenes:
        image, seg = render_proxy(s, "segmentation", n_classes)
        np.testing.assert_array_equal(image, s.image)
        np.testing.assert_array_equal(read_segmentation(seg, n_classes), s.segmentation)
        _, depth = render_proxy(s, "depth", n_classes)
        np.testing.assert_array_equal(read_depth(depth), s.depth)
        _, edges = render_proxy(s, "edge", n_classes)
        np.testing.assert_array_equal(read_edges(edges), s.edges)
        for target in (seg, depth, edges):
            assert target.shape == s.image.shape and target.dtype == np.uint8


def test_readers_tolerate_small_color_noise(world_scenes):
    """A VQ round trip perturbs colors a little; decoding must still be exact."""
    world, scenes = world_scenes
    n_classes = len(world.class_names)
    rng = np.random.default_rng(0)
    s = scenes[1]
    for proxy, reader, truth in [
        ("segmentation", lambda im: read_segmentation(im, n_classes), s.segmentation),
        ("depth", read_depth, s.depth),
        ("edge", read_edges, s.edges),
    ]:
        target = render_proxy(s, proxy, n_classes)[1].astype(int)
        noisy = np.clip(target + rng.integers(-20, 21, target.shape), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(reader(noisy), truth)


def test_depth_levels_brighten_with_nearness(world_scenes):
    _, scenes = world_scenes
    s = scenes[2]
    _, depth = render_proxy(s, "depth", 20)
    levels = {o.depth_rank: depth[s.instances == o.instance_id][0, 0] for o in s.objects}
    assert (depth[s.instances == 0] == 0).all()
    assert [levels[r] for r in sorted(levels)] == sorted(levels.values())


def test_reconstruction_and_inpainting(world_scenes):
    _, scenes = world_scenes
    s = scenes[3]
    source, target = render_proxy(s, "reconstruction", 20)
    np.testing.assert_array_equal(source, s.image)
    np.testing.assert_array_equal(target, s.image)
    masked, full = render_proxy(s, "inpainting", 20)
    np.testing.assert_array_equal(full, s.image)
    patches = inpaint_mask(s.index, s.image.shape[0])
    assert patches.shape == (8, 8) and patches.sum() == 16  # a quarter of the 4x4 patches
    np.testing.assert_array_equal(patches, inpaint_mask(s.index, s.image.shape[0]))
    assert not np.array_equal(patches, inpaint_mask(s.index + 1, s.image.shape[0]))
    hidden = np.repeat(np.repeat(patches, 4, axis=0), 4, axis=1)
    assert (masked[hidden] == INPAINT_FILL).all()
    np.testing.assert_array_equal(masked[~hidden], s.image[~hidden])


def test_bad_proxies(world_scenes):
    _, scenes = world_scenes
    assert PROXIES[-1] == "none"
    with pytest.raises(ValueError, match="no images"):
        render_proxy(scenes[0], "none", 20)
    with pytest.raises(ValueError, match="unknown proxy"):
        render_proxy(scenes[0], "sketch", 20)
    with pytest.raises(ValueError, match="palette has"):
        render_proxy(scenes[0], "segmentation", len(SEG_PALETTE) + 1)
    with pytest.raises(ValueError, match="class"):
        render_proxy(scenes[0], "segmentation", 1)
