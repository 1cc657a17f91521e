"""The report.json contract: what `sgt-probe compare` writes and every reader loads.

The models below are its documentation: docs/report-schema.md is generated from them
(`python -m sgt_probe.report.docs`), so what a field means is its docstring. `L` is the number
of layers and `H` of heads. Checkpoint names are short unique labels ("base", "segmentation",
...); the first checkpoint is the reference for paired deltas and CKA. A number compare could
not compute (NaN) is null, so report.json stays strict JSON that browsers parse.

Each suite compare runs fills the section of its name; a suite that did not run leaves its
section null and is absent from `suites`. Loading validates the whole report: a missing,
misspelled or mistyped field is refused, not discovered when a page is drawn.

To add a field: one annotated line and its docstring in its model, with a default when older
reports lack it (they then still load), and SCHEMA_VERSION one higher, so that an older
sgt-probe refuses the new report by its version rather than by a field it does not know. A
change that older reports cannot satisfy also raises OLDEST_READ to the new version.

Versions: 1, the first format: every number in flat top-level dicts, described in prose only.
2: one section per suite (`suites` says which ran), grounded precision as one nested record,
validated on load. 3: `skipped`, what the world could not support inside the suites that ran,
and `data.eval_fraction` (a version 2 report loads as one with nothing skipped and 0.2).
4: patch-level probes over object patches scored by balanced accuracy beside its 1/K floor
(`ProbeResult.metric`, `floor`, `n_classes`), label-free scores of object patches, and each
benchmark's `floor` (a version 3 report loads with plain accuracy, its majority floor, and no
benchmark floors).
5: attention allocation (text->image mass per layer and its change against the reference; how
generated-image and answer-cue attention splits over word types), the proxy-leak measure
beside generation, per-item answers, and the `alignment` section, reading against drawing per
layer (a version 4 report loads without them).
Version 1 reports are refused with a note to rerun `sgt-probe compare`; the pipeline (`demo`,
`reproduce`) rebuilds older reports on its next run.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, model_validator

SCHEMA_VERSION = 5  # what compare writes
OLDEST_READ = 2  # the oldest version this sgt-probe still loads

PROBE_TARGETS = ("semantic_class", "color", "object_count")
OBJECT_PATCH_TARGETS = ("semantic_class", "color")  # patch level: object patches from version 4
ProbeMetric = Literal["accuracy", "balanced_accuracy"]
MassKind = Literal["text->image", "image->image", "text->text", "generated->input", "sink"]
MASS_KINDS: tuple[str, ...] = get_args(MassKind)
WordType = Literal["object", "colour", "position", "count", "other"]  # data.text.WORD_TYPES
WORD_TYPES: tuple[str, ...] = get_args(WordType)
EmbedColorBy = Literal["class", "color", "depth"]
EMBED_COLOR_BY: tuple[str, ...] = get_args(EmbedColorBy)
# What a suite leaves out on a world that cannot support it (ReportData.skipped)
SkipKind = Literal["generation", "color probe", "attention explorer", "cross-path alignment",
                   "class lens", "color lens"]  # fmt: skip
SKIP_SUITE: dict[str, str] = {  # each of them -> the suite it is part of
    "generation": "benchmarks",
    "color probe": "probes",
    "attention explorer": "attention",
    "cross-path alignment": "alignment",
    "class lens": "alignment",
    "color lens": "alignment",
}
LensTarget = Literal["semantic_class", "color"]
LENS_TARGETS: tuple[str, ...] = get_args(LensTarget)

Num = float | None  # null: a number that could not be computed (NaN)


class Model(BaseModel):
    # extra="forbid": a renamed or misspelled field is an error, not silently dropped
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Section(Model):
    """The output of one compare suite; `ReportData` has one optional field per suite."""


# ---- what was compared ----


class DataInfo(Model):
    """The scene world every checkpoint was trained on (its `DataSpec`)."""

    # the data layer owns DataSpec: a field it adds is carried through, not refused
    model_config = ConfigDict(extra="allow")

    world: str
    """shapes, digits or folder."""
    seed: int
    """The world's seed."""
    image_size: int
    """Scene side in pixels."""
    path: str | None
    """The data folder of a `folder` world, else null."""
    eval_fraction: float = 0.2
    """The share of a `folder` world's images held out (by a hash of the file name) for the
    benchmarks and probes; the generated worlds hold out index ranges instead."""


class ModelInfo(Model):
    """The architecture all compared checkpoints share."""

    n_layers: int
    """L."""
    n_heads: int
    """H."""
    d_model: int
    """Residual-stream width."""
    grid: int
    """Image patches (image tokens) per side; P = grid * grid image positions."""
    patch_size: int
    """Patch side in pixels of the world's images."""
    preset: str
    """The model preset (tiny, small), or the architecture of a Hugging Face model (emu3)."""


class Checkpoint(Model):
    """One compared checkpoint."""

    name: str
    """Short unique label: "base" for a base checkpoint, else its proxy, else the file stem (a
    model directory's name)."""
    path: str
    """The .pt file or Hugging Face model directory compared."""
    proxy: str | None
    """The proxy it was tuned with (none = same steps on the base tasks), null for a base."""
    stage: str | None
    """"base" or "tune"; null for a model directory this project did not make."""
    seed: int | None
    """Its training seed."""
    step: int
    """Training steps done."""
    recipe: str | None = None
    """The tuning recipe it was made with (paper, weighted); null for a base, a model this
    project did not tune, and in reports before version 5."""
    settings: dict[str, Any] = {}
    """Training-config fields set over its recipe's, besides seed and proxy (a study arm's
    proxy_scenes or few_label_scenes); empty when none were."""


# ---- benchmarks suite ----


class Floor(Model):
    """What a benchmark gives a model that ignores its input: the accuracy to beat."""

    overall: Num
    """Mean of the family floors."""
    families: dict[str, Num]
    """The floor per family."""


class Scores(Model):
    """Accuracy on one benchmark."""

    overall: Num
    """Mean of the family accuracies."""
    families: dict[str, Num]
    """Accuracy per question family (understanding) or prompt family (generation)."""
    floor: Floor | None = None
    """Beside it, its floor (see benchmark_floor); null in reports before version 4."""


class CheckpointScores(Model):
    """One checkpoint's benchmark scores."""

    understanding: Scores
    """CV-Bench analogue: multiple-choice questions about held-out scenes."""
    generation: Scores
    """GenEval analogue: a generated image passes when the judge accepts its decoded pixels."""
    proxy_quality: dict[str, Num]
    """Proxy-task quality on maps generated for held-out scenes: segmentation_miou,
    depth_accuracy, edge_f1, reconstruction_psnr, `<proxy>_psnr` (higher is better)."""


class Delta(Model):
    """A paired change against the reference: mean(b) - mean(a) over the same items."""

    a: str
    """The reference checkpoint."""
    b: str
    """The checkpoint compared with it."""
    benchmark: Literal["understanding", "generation"]
    """Which benchmark the items come from."""
    family: str
    """"overall" (families weighted equally) or one family."""
    delta: Num
    """mean(b) - mean(a)."""
    lo: Num
    """Lower end of the 95% paired-bootstrap CI (scenes resampled)."""
    hi: Num
    """Upper end of the same CI."""


class GenerationItem(Model):
    """One generation prompt."""

    scene: int | None = None
    """The held-out scene whose prompt it is (its index in the world); null before version 5."""
    prompt: str
    """The caption the model drew an image for."""
    family: str
    """Its prompt family."""


class AnswerItem(Model):
    """One understanding question."""

    scene: int
    """The held-out scene's index in its world."""
    family: str
    """Its question family."""


class Answers(Model):
    """Whether each checkpoint answered each understanding question right, so comparisons
    across reports of the same world and scenes (a study) can be paired item by item."""

    items: list[AnswerItem]
    """The questions, scene by scene, in the order of `correct`."""
    correct: dict[str, list[bool]]
    """Checkpoint name -> right or wrong, per item."""


class Generations(Model):
    """Every generation prompt and the judge's verdict on each checkpoint's image."""

    items: list[GenerationItem]
    """The prompts, in the order of the generations/* arrays."""
    verdicts: dict[str, list[bool]]
    """Checkpoint name -> whether the judge accepted its image, per item."""


class Leak(Model):
    """How much of one checkpoint's scene generation looks like a proxy's output (see
    proxy_leak)."""

    map_rate: Num
    """Share of its generated scenes the detector calls a proxy map."""
    lo: Num
    """Lower end of the 95% bootstrap CI of map_rate (prompts resampled)."""
    hi: Num
    """Upper end of the same CI."""
    palette_share: Num
    """Mean share of a generated image's pixels near a segmentation-palette colour (its black
    background left out): map colours inside scenes, even where the image is no map."""
    maps: list[bool]
    """Per generation item (Generations.items order): whether its image was called a map."""


class LeakDetectorInfo(Model):
    """The proxy-leak detector on held-out renders of the compared world (see proxy_leak)."""

    accuracy: Num
    """Balanced accuracy: the mean of its accuracy on scenes and on maps."""
    called_map: dict[str, Num]
    """Kind (scene, segmentation, depth, edge) -> share of those images it calls a map."""
    n: int
    """Images it was scored on (scenes, maps and their VQ round trips)."""


class Benchmarks(Section):
    """Understanding, generation and proxy quality, scored on the same held-out items."""

    scores: dict[str, CheckpointScores]
    """Checkpoint name -> its scores."""
    deltas: list[Delta]
    """Every other checkpoint against the reference, overall and per family."""
    generations: Generations
    """What each checkpoint drew for each prompt, and the verdicts."""
    answers: Answers | None = None
    """Per question, each checkpoint's verdict; null in reports before version 5."""
    leak: dict[str, Leak] | None = None
    """Checkpoint name -> its proxy leak; null without generations (a folder world) and in
    reports before version 5."""
    leak_detector: LeakDetectorInfo | None = None
    """The detector's validation, the same for every checkpoint; null where leak is."""


# ---- probes suite ----


class ProbeResult(Model):
    """A linear probe fitted at every layer (see linear_separability)."""

    metric: ProbeMetric = "accuracy"
    """What accuracy, lo, hi, control and floor measure: "balanced_accuracy", the mean over
    classes of each class's held-out recall (version 4 on); "accuracy", the share of held-out
    rows predicted right, over all image patches (reports before version 4)."""
    accuracy: list[Num]
    """[L] held-out score in `metric` (higher = more linearly separable)."""
    lo: list[Num]
    """[L] lower end of the 95% cluster-bootstrap CI (images resampled)."""
    hi: list[Num]
    """[L] upper end of the same CI."""
    C: list[float]
    """[L] the inverse L2 strength grouped cross-validation chose."""
    majority: Num
    """Held-out plain accuracy of always answering the training rows' commonest label (the
    floor of plain accuracy: how unbalanced the classes are)."""
    floor: Num = None
    """What `metric` gives a probe that reads nothing: 1/K for balanced accuracy (any constant
    answer), the majority rate for plain accuracy (a report before version 4 loads with its
    `majority` here)."""
    n_classes: int | None = None
    """K, the classes among the held-out rows (null before version 4)."""
    control: list[Num] | None = None
    """[L] control-task score in `metric` (see selectivity); null for image-level probes."""
    selectivity: list[Num] | None = None
    """[L] accuracy - control; null for image-level probes."""

    @model_validator(mode="after")
    def _floor_of_older_reports(self) -> ProbeResult:
        if self.floor is None and self.metric == "accuracy":
            self.floor = self.majority
        return self


class LabelFree(Model):
    """Separability of the object-patch residuals (all image patches before version 4) by
    semantic class, without a probe."""

    fisher: list[Num]
    """[L] see fisher."""
    silhouette: list[Num]
    """[L] see silhouette."""


class Probes(Section):
    """Linear probes and label-free separability of image-position residuals, per layer."""

    targets: dict[str, dict[str, ProbeResult]]
    """Checkpoint name -> probe target -> result. Targets: semantic_class and color (patch
    level, object patches only from version 4), object_count (image level: see
    object_count_probe)."""
    label_free: dict[str, LabelFree]
    """Checkpoint name -> scores."""


# ---- attention suite ----


class Grounded(Model):
    """Grounded attention precision per layer (see grounded_precision)."""

    precision: list[Num]
    """[L] share of the head-averaged text->image mass on the named object's patches."""
    lo: list[Num]
    """[L] lower end of the 95% bootstrap CI (questions resampled)."""
    hi: list[Num]
    """[L] upper end of the same CI."""
    chance: Num
    """The named objects' mean share of image patches: what uniform attention would get."""
    ratio: list[Num]
    """[L] precision / chance."""
    n: int
    """Questions that name an object and went into the means."""


class WordAllocation(Model):
    """How one query set's attention to a text's words splits over word types, per layer (see
    word_allocation); shares of a layer sum to 1."""

    share: dict[WordType, list[Num]]
    """Word type -> [L] mean over samples of the type's share of the queries' attention to the
    text's words (heads averaged first)."""
    lo: dict[WordType, list[Num]]
    """Word type -> [L] lower end of the 95% bootstrap CI (samples resampled)."""
    hi: dict[WordType, list[Num]]
    """Word type -> [L] upper end of the same CI."""
    chance: dict[WordType, Num]
    """Word type -> mean share of the text's tokens of that type: what attention spread
    evenly over the words would give it."""
    n: int
    """Samples that went into the means."""


class Allocation(Model):
    """The paper's Fig. 8 for one checkpoint (see attention_allocation, word_allocation)."""

    text_image: list[Num]
    """[L] text->image attention mass per layer, heads averaged, mean over the questions."""
    change_pct: list[Num] | None = None
    """[L] 100 * (text_image - the reference's) / the reference's, paired over the same
    questions; null for the reference itself."""
    lo: list[Num] | None = None
    """[L] lower end of the 95% paired bootstrap CI of change_pct (scenes resampled)."""
    hi: list[Num] | None = None
    """[L] upper end of the same CI."""
    generated_to_prompt: WordAllocation | None = None
    """Generated-image queries (a prompt's scene teacher-forced after it) -> the prompt's
    words; null when no prompt has words."""
    cue_to_question: WordAllocation | None = None
    """The answer cue's queries (the answer-task token) -> the question's words."""


class AttentionStats(Model):
    """One checkpoint's attention statistics (directions are query->key)."""

    mass: dict[MassKind, list[list[Num]] | None]
    """Kind -> [L][H] attention mass (see attention_mass); generated->input is null without
    generated-image sequences."""
    entropy: list[list[Num]]
    """[L][H] see attention_entropy."""
    grounded: Grounded | None = None
    """Null when no question names an object."""
    allocation: Allocation | None = None
    """The paper's Fig. 8 measures; null in reports before version 5."""


class ExplorerSample(Model):
    """A question the attention explorer shows (arrays under explorer/)."""

    index: int
    """The held-out scene's index in its world."""
    family: str
    """Its question family."""
    question: str
    """The question as the model read it."""
    tokens: list[str]
    """The query tokens, as the reference's tokenizer splits them: the question's words, then
    the answer cue (`<task:answer>`, or an Emu3 model's " ASSISTANT:" pieces)."""
    answer: str
    """The right answer."""
    target_instance: int
    """Instance id of the object the question names (see explorer/instances)."""
    target_tokens: list[int]
    """Indices into `tokens` of the words that name that object (its color and shape)."""


class Attention(Section):
    """Cross-modal attention statistics per layer, and the explorer's samples."""

    stats: dict[str, AttentionStats]
    """Checkpoint name -> statistics."""
    explorer: list[ExplorerSample]
    """The questions the attention explorer shows, each naming an object."""


# ---- knockout suite ----


class KnockoutCurve(Model):
    """Text->image knockout in a sliding window of layers (see knockout)."""

    windows: list[tuple[int, int]]
    """[first, last] layers blocked, one window per centre layer."""
    center: list[int]
    """The centre layer of each window."""
    relative_change: list[Num]
    """Per window: mean over questions of (p_new - p_base) / p_base."""
    lo: list[Num]
    """Per window: lower end of the 95% bootstrap CI."""
    hi: list[Num]
    """Per window: upper end of the same CI."""


class Knockout(Section):
    """What blocking text->image attention does to the probability of the right answer."""

    curves: dict[str, KnockoutCurve]
    """Checkpoint name -> curve."""


# ---- cka suite ----


class CkaPair(Model):
    """The reference against one other checkpoint."""

    a: str
    """The reference checkpoint."""
    b: str
    """The checkpoint compared with it."""
    values: list[Num]
    """[L] debiased linear CKA between a's and b's image-position residuals (see cka)."""


class Cka(Section):
    """How similar each checkpoint's representations are to the reference's, per layer."""

    pairs: list[CkaPair]
    """One per checkpoint after the reference."""


# ---- alignment suite ----


class LayerScores(Model):
    """A number per layer with its 95% interval. Index L // 2 is the middle layer (as the
    probe tables and figures read it), index L - 1 the last."""

    value: list[Num]
    """[L] the number."""
    lo: list[Num]
    """[L] lower end of the 95% interval (the field that holds it says which kind)."""
    hi: list[Num]
    """[L] upper end of the same interval."""


class Transfer(Model):
    """The object-class probe of each path scored on both (see probe_transfer). Every score is
    balanced accuracy on the held-out half of the probe scenes, with a 95% cluster-bootstrap
    CI (scenes resampled)."""

    read: LayerScores
    """Fitted on the read path, scored on the read path: the probes suite's semantic_class
    probe."""
    read_to_draw: LayerScores
    """Fitted on the read path, scored on the draw path."""
    draw: LayerScores
    """Fitted on the draw path, scored on the draw path."""
    draw_to_read: LayerScores
    """Fitted on the draw path, scored on the read path."""
    floor: Num
    """1/K, K the classes among the held-out object patches: what any constant answer
    scores."""
    n_classes: int
    """K."""


class Lens(Model):
    """The logit lens on image tokens for one target (see logit_lens): balanced accuracy of
    the top word over the object patches of every probe scene, with a 95% cluster-bootstrap
    CI (scenes resampled)."""

    words: list[str]
    """The words the lens chooses among: index k names label k + 1 (class ids and color
    labels count from 1; 0 is background, which has no word)."""
    read: LayerScores
    """On the read path's image positions."""
    draw: LayerScores
    """On the draw path's image positions."""
    floor: Num
    """1/K, K the labels among the object patches: what always naming one word scores."""
    n_classes: int
    """K."""


class PathAlignment(Model):
    """One checkpoint's reading of the probe scenes against its drawing of them."""

    cka: LayerScores | None = None
    """Cross-path CKA per layer with its 95% delete-one-scene jackknife interval (see
    cross_path_cka); null where `skipped` says "cross-path alignment"."""
    transfer: Transfer | None = None
    """Probe transfer between the paths; null where `skipped` says "cross-path alignment"."""
    lens: dict[LensTarget, Lens] = {}
    """Target (semantic_class, color) -> the logit lens; a target `skipped` names ("class
    lens", "color lens") is absent."""


class Alignment(Section):
    """Do reading and drawing share one representation? The image-position residuals of the
    same held-out probe scenes when the model reads them (an understanding item, the image
    through its image encoder) and when it draws them (the scene's own codes teacher-forced
    after its prompt), matched patch by patch: cross-path CKA, probe transfer, and a logit lens
    on both paths, per layer."""

    checkpoints: dict[str, PathAlignment]
    """Checkpoint name -> its measures."""
    n_scenes: int
    """The probe scenes read and drawn (`compare_config.n_probe_scenes`)."""


# ---- embeddings suite ----


class Embeddings(Section):
    """UMAP layouts of image-token residuals (arrays under embeddings/)."""

    layers: list[int]
    """The layers embedded: the middle and the last."""
    names: list[str]
    """The checkpoints embedded (a study embeds only the pair its figure shows)."""
    color_by: list[EmbedColorBy]
    """The per-point labels stored under embeddings/meta/."""
    labels: dict[str, list[str]]
    """Label kind -> the name of each index: "class" (0 = background) and "color"."""


# ---- the report ----


class ReportData(Model):
    """report.json: one comparison of several checkpoints on the same held-out items."""

    schema_version: int
    """The format's version (SCHEMA_VERSION when written)."""
    created: str
    """When it was written, UTC, ISO 8601."""
    suites: list[str]
    """The suites that ran, in the order they ran; each filled the section of its name."""
    skipped: dict[SkipKind, str] = {}
    """What the compared world or models cannot support, left out of a suite that ran -> why.
    On a folder world: "generation" (the judge needs a generated world; benchmarks then have no
    generation scores, deltas or images), "color probe" (its objects have no colors; probes
    have no color target), "color lens" (alignment has no color lens), and "attention
    explorer" when no held-out question names an object (attention has no explorer samples or
    arrays). On models that read an image as the very tokens they draw it with (Emu3, a
    checkpoint with vision_input "vq"): "cross-path alignment" (alignment has no cka or
    transfer). "class lens" or "color lens" when a word of the world is not one token of the
    model's. Empty for our checkpoints on the generated worlds."""
    definitions: dict[str, str]
    """Metric -> what it means, for the suites that ran (listed below)."""
    data: DataInfo
    """The world the checkpoints were trained on."""
    model: ModelInfo
    """The architecture they share."""
    compare_config: dict[str, Any]
    """The CompareConfig it was made with: item counts, seed, device, suites."""
    checkpoints: list[Checkpoint]
    """In compare's argument order; the first is the reference."""
    timings: dict[str, float]
    """Wall seconds per stage (load, data, capture, each suite), each second counted once."""
    benchmarks: Benchmarks | None = None
    probes: Probes | None = None
    attention: Attention | None = None
    knockout: Knockout | None = None
    cka: Cka | None = None
    alignment: Alignment | None = None
    embeddings: Embeddings | None = None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.checkpoints]

    @model_validator(mode="after")
    def _sections_are_the_suites(self) -> ReportData:
        unknown = [s for s in self.suites if s not in SUITES]
        if unknown:
            raise ValueError(f"suites: unknown suite {unknown[0]!r}; known: {', '.join(SUITES)}")
        for what, suite in SKIP_SUITE.items():
            if what in self.skipped and suite not in self.suites:
                raise ValueError(f"skipped: {what!r} is part of the {suite!r} suite, which did "
                                 "not run")  # fmt: skip
        for suite in SUITES:
            ran, section = suite in self.suites, getattr(self, suite)
            if ran and section is None:
                raise ValueError(f"suites lists {suite!r} but its section is null")
            if not ran and section is not None:
                raise ValueError(f"{suite}: a section for a suite that `suites` does not list")
        return self


def _is_section(annotation) -> bool:
    return any(isinstance(a, type) and issubclass(a, Section) for a in get_args(annotation))


# The suites compare can run: ReportData's section fields, in their order.
SUITES: tuple[str, ...] = tuple(
    name for name, field in ReportData.model_fields.items() if _is_section(field.annotation)
)

# Metric -> definition, per suite; report.json carries those of the suites that ran.
DEFINITIONS: dict[str, dict[str, str]] = {
    "benchmarks": {
        "benchmark_floor": "What a model that ignores its input scores, per family. "
        "Understanding: a blind answerer that picks, among each item's choices, the answer "
        "most often right for its family on 2,000 training scenes. Generation: the same "
        "checkpoint's images judged against another held-out scene's prompt of the same "
        "family (how often an image that ignores its prompt still passes).",
        "deltas": "Paired over the same items against the first checkpoint: mean(b) - mean(a) "
        "with a 95% paired bootstrap CI (scenes resampled).",
        "proxy_leak": "How much of a checkpoint's scene generation looks like a proxy's output. "
        "A detector independent of the model (a logistic regression over five pixel statistics: "
        "share of segmentation-palette colours, of near-black, of gray and of object-colour "
        "pixels, and mean neighbour difference) is fitted on training scenes and their "
        "segmentation, depth and edge maps (and their VQ round trips) and validated on held-out "
        "ones (leak_detector); map_rate is the share of generated scenes it calls a map, with "
        "a 95% bootstrap CI; palette_share the mean share of pixels near a non-background "
        "palette colour.",
    },
    "probes": {
        "linear_separability": "Per layer, multinomial logistic regression on the residual "
        "stream (hook_resid_post) at the image positions of object patches (a patch whose "
        "majority pixel label is an object's, not background) -> the object's class "
        "(semantic_class) or color (color); L2 strength C chosen by cross-validation with "
        "folds grouped by image, fitted on half of the images and scored on the other half by "
        "balanced accuracy (the mean over classes of each class's recall), with a 95% "
        "cluster-bootstrap CI (images resampled), beside its floor 1/K (K classes among the "
        "held-out patches: what any constant answer scores).",
        "selectivity": "Task balanced accuracy minus control-task balanced accuracy (Hewitt & "
        "Liang 2019): each VQ code of the patch gets one fixed random label with the task's "
        "class distribution.",
        "object_count_probe": "Image-level probe: mean of all image-position residuals -> "
        "number of objects, scored by balanced accuracy as the patch-level probes.",
        "fisher": "trace(between-class scatter) / trace(within-class scatter) of object-patch "
        "residuals by semantic class.",
        "silhouette": "Silhouette score (cosine) of object-patch residuals by semantic class, "
        "subsampled.",
    },
    "attention": {
        "attention_direction": "Always query->key: 'text->image' is text-token queries "
        "attending to image-token keys. Text queries are the question words and the "
        "answer-task token.",
        "attention_mass": "Per layer, head and sample: for each query in Q the sum of its "
        "attention weights over the key set K, averaged over the queries in Q; then averaged "
        "over samples. Kinds: text->image, image->image, text->text, generated->input "
        "(generated-image queries of segmentation-proxy sequences to input-image keys, "
        "teacher-forced on the ground-truth map); sink = mass on the first token (<bos>) from "
        "text queries.",
        "attention_entropy": "Mean over text queries of -sum_k p log p (nats).",
        "attention_allocation": "The paper's Fig. 8a: per layer, the text->image attention "
        "mass of the questions (attention_mass, heads averaged), and its change against the "
        "reference checkpoint in percent, 100 * (b - a) / a, with a 95% paired bootstrap CI "
        "(scenes resampled).",
        "word_allocation": "The paper's Fig. 8b: per layer, how a query set's attention to a "
        "text's words splits over word types (object: a class word or its plural; colour; "
        "position: left, right, above, below; count: a number word before a plural, and how, "
        "many, more, fewer; other: the rest, and any piece of a word a tokenizer split). For "
        "each sample, the head-averaged mass from the queries to the words of each type over "
        "the mass to all the words; mean over samples with a 95% bootstrap CI, beside chance "
        "(the type's share of the words). Two directions: generated-image tokens -> the "
        "prompt's words (a held-out scene's codes teacher-forced after its prompt), and the "
        "answer cue -> the question's words.",
        "grounded_precision": "For a question that names an object: the share of the (head-"
        "averaged) text->image mass that lands on image patches holding any pixel of that "
        "object's ground-truth mask; chance = the object's share of image patches; ratio = "
        "precision/chance.",
    },
    "knockout": {
        "knockout": "Block text->image edges (text queries to image keys) in a window of layers "
        "around L; relative change of the probability of the correct answer, (p_new - p_base) "
        "/ p_base, averaged over questions, with a 95% bootstrap CI.",
    },
    "cka": {
        "cka": "Debiased linear CKA (Kornblith et al. 2019, unbiased HSIC) between two "
        "checkpoints' image-position residuals at the same layer on the same inputs.",
    },
    "alignment": {
        "cross_path_cka": "Per layer, debiased linear CKA (as cka) between one checkpoint's "
        "residual streams (hook_resid_post) at the image positions of the same held-out probe "
        "scenes read and drawn, matched patch by patch. Read path: the scene as an "
        "understanding item, its image through the image encoder (the question after the image "
        "does not reach the image positions: attention is causal). Draw path: the scene's own "
        "VQ codes teacher-forced after its generation prompt; patch p is the position whose "
        "input token is code p (it has seen the prompt and codes 0..p), not the position that "
        "predicts code p. Every patch, background included. 95% interval: delete-one-scene "
        "jackknife, CKA +- t(S-1) SE (a with-replacement bootstrap would pair copied patches "
        "with themselves, the very pairs the debiased estimator leaves out). Measured only "
        "where the read path's image positions hold an image encoder's embeddings, not the "
        "tokens the model draws.",
        "probe_transfer": "The object-class probe (as linear_separability: object patches, L2 "
        "by grouped cross-validation, fitted on the probes' training half of the scenes) fitted "
        "on one path's residuals and scored by balanced accuracy on the held-out half's object "
        "patches of the same path (read, draw) and of the other path (read_to_draw, "
        "draw_to_read). The probe is applied as fitted, with its training rows' "
        "standardization: nothing is refitted or re-centred on the other path, so transfer "
        "asks whether the two paths put a class in the same place, not only whether they both "
        "separate it. 95% cluster-bootstrap CI (scenes resampled), beside the floor 1/K.",
        "logit_lens": "Each layer's residual at an image position through the model's own "
        "final norm and unembedding (the logit lens, nostalgebraist 2020), its logits "
        "restricted to the world's class words (semantic_class) or color words (color); per "
        "object patch, whether the top word is its ground-truth class (color). Balanced "
        "accuracy over the object patches of every probe scene, both paths, with a 95% "
        "cluster-bootstrap CI (scenes resampled), beside the floor 1/K. What it assumes: one "
        "unembedding shared by every layer, i.e. that each layer's residual already lies in "
        "the basis the last layer writes words in. At the last layer that is exact (the lens is the "
        "model's own next-token logits, though no image position is trained to predict a "
        "word: a read-path image position predicts nothing, a draw-path one the next code); "
        "the earlier the layer, the less the residual is in that basis, so a score near the "
        "floor at an early layer says little about what the layer holds (a probe or a tuned "
        "lens would fit a map per layer). A word must be one token of the model's: a model "
        "that splits a class word has no lens for that target.",
    },
    "embeddings": {
        "umap": "UMAP of the image-position residuals of the first probe scenes at the middle "
        "and the last layer, one fit per checkpoint and layer, with a fixed seed.",
    },
}
