"""Every component id of the dashboard, in one place so pages and tests agree on them."""

# app shell
REPORT = "report-select"
REPORT_ROW = "report-row"

# overview
OV_NOTE = "ov-note"
OV_CHECKPOINTS = "ov-checkpoints"
OV_SCORES = "ov-scores"
OV_DELTAS = "ov-deltas"
OV_PROXY = "ov-proxy"

# separability
SEP_NOTE = "sep-note"
SEP_TARGET = "sep-target"
SEP_ACCURACY = "sep-accuracy"
SEP_SELECTIVITY = "sep-selectivity"
SEP_LABEL_FREE_KIND = "sep-label-free-kind"
SEP_LABEL_FREE = "sep-label-free"
SEP_CKA = "sep-cka"

# attention explorer
ATT_NOTE = "att-note"
ATT_SAMPLE = "att-sample"
ATT_TOKEN = "att-token"
ATT_HEAD = "att-head"
ATT_CHECKPOINTS = "att-checkpoints"
ATT_LAYER = "att-layer"
ATT_PLAY = "att-play"
ATT_TICK = "att-tick"
ATT_OVERLAY = "att-overlay"
ATT_PATCH = "att-patch"
ATT_READERS = "att-readers"
ATT_MASS_KIND = "att-mass-kind"
ATT_MASS = "att-mass"
ATT_GROUNDED = "att-grounded"

# embeddings
EMB_NOTE = "emb-note"
EMB_LAYER = "emb-layer"
EMB_COLOR_BY = "emb-color-by"
EMB_CHECKPOINTS = "emb-checkpoints"
EMB_SCATTER = "emb-scatter"
EMB_HOVER = "emb-hover"

# generations
GEN_NOTE = "gen-note"
GEN_FAMILY = "gen-family"
GEN_STATUS = "gen-status"
GEN_AGAINST = "gen-against"
GEN_COUNT = "gen-count"
GEN_GRID = "gen-grid"

# knockout
KO_NOTE = "ko-note"
KO_CHANGE = "ko-change"

# study
STUDY_SELECT = "study-select"
STUDY_NOTE = "study-note"
STUDY_SCORECARD = "study-scorecard"
STUDY_FOREST_U = "study-forest-understanding"
STUDY_FOREST_G = "study-forest-generation"
STUDY_FAMILIES = "study-families"
STUDY_SCALING = "study-scaling"
STUDY_FEW_LABEL = "study-few-label"
STUDY_ALLOC_LAYER = "study-alloc-layer"
STUDY_ALLOC_WORDS = "study-alloc-words"
STUDY_LEAK = "study-leak"

# reading and drawing (alignment)
ALN_NOTE = "aln-note"
ALN_CKA = "aln-cka"
ALN_DIRECTION = "aln-direction"
ALN_TRANSFER = "aln-transfer"
ALN_LENS_TARGET = "aln-lens-target"
ALN_LENS_PATH = "aln-lens-path"
ALN_LENS = "aln-lens"
