"""The alignment suite: do reading and drawing share one representation?

SGT's premise is that a unified model learns to understand images from sparse text and to draw
them from dense pixels, so the two paths' representation spaces are misaligned, and that a
semantic generative proxy aligns them. Our models have exactly those two paths: they *read* an
image through the patch encoder and *draw* one as VQ codes. For the same held-out probe scenes,
this suite captures the image-position residuals of both, matched patch by patch, and measures
per layer (definitions in `sgt_probe.report.schema.DEFINITIONS["alignment"]`):

- cross-path CKA between the two paths' residuals, with a delete-one-scene jackknife interval;
- probe transfer: the object-class probe fitted on one path, scored on the other, beside each
  path's own held-out score and the 1/K floor;
- a logit lens on image tokens, both paths: each layer's residual through the final norm and
  unembedding, restricted to the world's class (color) words.

The read path is the probes' capture (`Inputs.residuals`); only the draw path is captured here.
A model that reads an image as the very tokens it draws it with (Emu3, vision_input "vq") has
one representation to start from on both paths: cross-path alignment is skipped there, with
the reason, and the lens is measured on both paths.
"""

from __future__ import annotations

import numpy as np

from sgt_probe.capture.activations import capture_residuals
from sgt_probe.capture.lens import lens_logits
from sgt_probe.compare.inputs import Inputs
from sgt_probe.model.sequences import ROLE_GENERATED, ROLE_IMAGE, Item
from sgt_probe.probes.cka import jackknife_cka
from sgt_probe.probes.logistic import LayerwiseProbe
from sgt_probe.probes.stats import bootstrap_balanced_ci
from sgt_probe.report.schema import Alignment, LayerScores, Lens, PathAlignment, Transfer

NAME = "alignment"
# the class probe's settings, as the probes suite fits its semantic_class probe
PROBE_CS, PROBE_FOLDS, PROBE_MAX_ITER = (0.1, 1.0, 10.0), 3, 50


def drawn_positions(draw: Item, read: Item, n_patches: int, encoder: bool) -> list[int]:
    """The positions of `draw` (a generation item, its image teacher-forced) whose input token
    is the image's code p, for p = 0..P-1 in the grid's row-major order: each has seen the
    prompt and codes 0..p (the position before it predicts code p).

    With an image `encoder` (the read path's image positions hold its embeddings) the codes are
    the first P generated tokens, as our sequences and Janus-style ones write them. Without
    one, the read item's image positions hold the codes' own tokens: the drawn image is the
    generated tokens that spell them in order (an Emu3 image's rows are closed by end-of-row
    tokens, which are skipped)."""
    generated = [t for t, r in enumerate(draw.roles) if r == ROLE_GENERATED]
    if encoder:
        found = generated[:n_patches]
    else:
        codes = [i for i, r in zip(read.ids, read.roles, strict=True) if r == ROLE_IMAGE]
        found = []
        for t in generated:
            if len(found) < len(codes) and draw.ids[t] == codes[len(found)]:
                found.append(t)
    if len(found) != n_patches:
        raise ValueError(f"a drawn image holds {len(found)} of its {n_patches} code tokens")
    return found


def draw_residuals(inputs: Inputs, name: str, encoder: bool) -> np.ndarray:
    """float32 [L, N, d]: every layer's residual at the drawn image's code positions of the
    probe scenes, rows as `Inputs.residuals` (image-major, patches row-major)."""
    probe, cfg = inputs.probe, inputs.cfg
    n_patches = inputs.ref.grid.n_patches
    items = [probe.data.generation(i) for i in range(len(probe.data))]
    with inputs.stopwatch("capture"):
        X, meta = capture_residuals(inputs.runner(name), items, list(range(inputs.n_layers)),
                                    role=ROLE_GENERATED, batch_size=cfg.batch_size,
                                    progress=inputs.stopwatch.progress,
                                    desc="capture draw")  # fmt: skip
    rows = []
    for i, (draw, read) in enumerate(zip(items, probe.items, strict=True)):
        mine = np.nonzero(meta["item"] == i)[0]  # in position order
        row_of = dict(zip(meta["position"][mine].tolist(), mine.tolist(), strict=True))
        rows += [row_of[t] for t in drawn_positions(draw, read, n_patches, encoder)]
    return X[:, rows]


def scores(correct: np.ndarray, y: np.ndarray, groups: np.ndarray, n_boot: int, seed: int
           ) -> LayerScores:  # fmt: skip
    """Balanced accuracy per layer of correct [L, n] under labels y [n], each with its
    cluster-bootstrap CI over `groups` [n]."""
    cis = [bootstrap_balanced_ci(c, y, groups, n_boot=n_boot, seed=seed) for c in correct]
    return LayerScores(value=[c[0] for c in cis], lo=[c[1] for c in cis],
                       hi=[c[2] for c in cis])  # fmt: skip


def cross_path_cka(read: np.ndarray, draw: np.ndarray, image_of: np.ndarray, device: str = "cpu"
                   ) -> LayerScores:  # fmt: skip
    """Debiased linear CKA per layer between read [L, N, d] and draw [L, N, d] (rows matched),
    with its delete-one-image jackknife interval."""
    cis = [jackknife_cka(r, d, image_of, device=device) for r, d in zip(read, draw, strict=True)]
    return LayerScores(value=[c[0] for c in cis], lo=[c[1] for c in cis],
                       hi=[c[2] for c in cis])  # fmt: skip


def probe_transfer(read: np.ndarray, draw: np.ndarray, y: np.ndarray, image_of: np.ndarray,
                   train: np.ndarray, n_boot: int = 1000, seed: int = 0,
                   device: str | None = None) -> Transfer:  # fmt: skip
    """The class probe fitted on each path's `train` rows, scored on both paths' other rows.

    read, draw [L, n, d] residuals of the same object patches; y [n] their classes; image_of
    [n] their images (the probe's CV folds and the bootstrap resample whole images)."""
    test = ~train
    out = {}
    for X, target_of in ((read, {"read": read, "read_to_draw": draw}),
                         (draw, {"draw": draw, "draw_to_read": read})):  # fmt: skip
        probe = LayerwiseProbe(Cs=PROBE_CS, n_folds=PROBE_FOLDS, max_iter=PROBE_MAX_ITER,
                               seed=seed, device=device)  # fmt: skip
        probe.fit(X[:, train], y[train], image_of[train])
        for key, Z in target_of.items():
            correct = probe.predict(Z[:, test]) == y[test]
            out[key] = scores(correct, y[test], image_of[test], n_boot, seed)
    n_classes = len(np.unique(y[test]))
    return Transfer(**out, floor=1.0 / n_classes, n_classes=n_classes)


def word_tokens(inputs: Inputs, words: list[str]) -> list[int | None]:
    """The reference model's token for each word: the token whose text is the word after a
    space (as a byte-level BPE writes a word mid-sentence), else the word itself; None for a
    word that is no single token. Every compared model shares these (check_comparable)."""
    n_vocab = inputs.runner(inputs.names[0]).bridge.unembed.W_U.shape[1]
    texts = inputs.ref.token_texts(list(range(n_vocab)))
    first = {}
    for i, t in enumerate(texts):
        first.setdefault(t, i)
    return [first.get(" " + w, first.get(w)) for w in words]


def lens(
    runner,
    read: np.ndarray,
    draw: np.ndarray,
    labels: np.ndarray,
    image_of: np.ndarray,
    words: list[str],
    tokens: list[int],
    n_boot: int = 1000,
    seed: int = 0,
) -> Lens:
    """The logit lens over the object patches (labels > 0; label k + 1 is words[k]) of both
    paths' residuals [L, N, d]."""
    obj = labels > 0
    y = labels[obj]
    result = {}
    for path, X in (("read", read), ("draw", draw)):
        top = lens_logits(runner.bridge, X[:, obj], tokens).argmax(-1) + 1  # [L, n]
        result[path] = scores(top == y, y, image_of[obj], n_boot, seed)
    n_classes = len(np.unique(y))
    return Lens(words=words, **result, floor=1.0 / n_classes, n_classes=n_classes)


def run(inputs: Inputs, arrays: dict[str, np.ndarray]) -> Alignment:
    probe, cfg, world = inputs.probe, inputs.cfg, inputs.world
    image_of = probe.image_of
    classes = probe.flat("class")
    # an image encoder reads the image: two paths, two representations to align
    encoder = inputs.runner(inputs.names[0]).embed is not None
    if not encoder:
        inputs.skip("cross-path alignment",
                    f"the {inputs.ref.kind} model reads an image as the very VQ tokens it "
                    "draws it with (one tokenizer, one embedding table for both paths), so its "
                    "paths start from one representation: the misalignment between an "
                    "understanding encoder and a generation tokenizer cannot arise; the logit "
                    "lens is measured on both paths")  # fmt: skip
    targets = {"semantic_class": ("class lens", "class", list(world.class_names[1:])),
               "color": ("color lens", "color", list(world.colors))}  # fmt: skip
    lens_words = {}
    every_word = [w for _, _, words in targets.values() for w in words]
    token_of = dict(zip(every_word, word_tokens(inputs, every_word), strict=True))
    for target, (what, _, words) in targets.items():
        if not words:
            inputs.skip(what, f"the {world.name!r} world gives its objects no colors")
            continue
        tokens = [token_of[w] for w in words]
        if missing := [w for w, t in zip(words, tokens, strict=True) if t is None]:
            inputs.skip(what, f"the model's tokenizer has no single token for "
                              f"{', '.join(repr(w) for w in missing)}")  # fmt: skip
            continue
        lens_words[target] = (words, tokens)
    # the probes suite's split: half of the images train the probe, the rest score it
    images = np.unique(image_of)
    train_images = np.random.default_rng(cfg.seed).permutation(images)[: len(images) // 2]
    obj = classes > 0
    train = np.isin(image_of[obj], train_images)
    out = {}
    for name in inputs.names:
        read, draw = inputs.residuals(name), draw_residuals(inputs, name, encoder)
        cka = transfer = None
        if encoder:
            cka = cross_path_cka(read, draw, image_of, device=cfg.device)
            transfer = probe_transfer(read[:, obj], draw[:, obj], classes[obj], image_of[obj],
                                      train, n_boot=cfg.n_boot, seed=cfg.seed,
                                      device=cfg.device)  # fmt: skip
        lenses = {
            target: lens(inputs.runner(name), read, draw, probe.flat(targets[target][1]),
                         image_of, words, tokens, n_boot=cfg.n_boot, seed=cfg.seed)
            for target, (words, tokens) in lens_words.items()
        }  # fmt: skip
        out[name] = PathAlignment(cka=cka, transfer=transfer, lens=lenses)
    return Alignment(checkpoints=out, n_scenes=len(probe.data))
