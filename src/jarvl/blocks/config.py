"""Typed model configs. One width ``D`` is shared by the fusion and the decoder so fusions compare fairly."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from jarvl.imagenet import IMAGENET_MEAN, IMAGENET_STD

_LAST_N = re.compile(r"last_(\d+)")


def freeze_layers(freeze: bool | str) -> int | None:
    """Trainable layers a ``freeze`` value leaves: None = all (false), 0 = none (true), N (``last_N``).

    Raises ValueError for anything else.
    """
    if freeze is False:
        return None
    if freeze is True:
        return 0
    match = _LAST_N.fullmatch(str(freeze))
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"freeze must be true, false or last_N (N >= 1 layers left trainable), got {freeze!r}")
    return int(match.group(1))


@dataclass
class VisionConfig:
    """ViT image encoder: the built-in one (patch embedding or a small conv stem + pre-LN transformer),
    or a pretrained tower read from ``backbone``, a local Hugging Face directory (ViT, CLIP vision,
    SigLIP vision). With a backbone, the architecture fields (width, depth, heads, mlp_ratio,
    patch_size) and the preprocessing (image_size, mean, std, crop) are filled in from the
    checkpoint (``jarvl.models.pretrained.resolve_backbones``) and ``hf_config`` keeps its
    ``config.json``, so a saved run rebuilds the tower without the directory.
    """

    image_size: int = 224
    patch_size: int = 16
    stem: Literal["patch", "conv"] = "patch"  # "conv": stride-2 3x3 convs, better for small images
    pos: Literal["sincos", "learned"] = "sincos"  # fixed 2-D sin-cos (MAE) or learned positions
    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    backbone: str = ""  # local Hugging Face directory (config.json + model.safetensors); "" = built-in ViT
    backbone_layers: int = 0  # layers of the backbone to run: 0 all, k > 0 the first k, k < 0 all but the last -k
    freeze: bool | str = False  # true | false | last_N (train only the last N layers and the final norm)
    projection: Literal["linear", "mlp"] = "linear"  # Eq. 1's W1 to the fusion width; mlp: Linear-GELU-Linear (LLaVA-1.5)
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))  # per channel, 0-255 scale
    std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    crop: bool = False  # resize the short side to image_size and centre-crop (CLIP), instead of squashing
    hf_config: dict[str, Any] = field(default_factory=dict)  # the backbone's config.json (filled in)

    @property
    def num_tokens(self) -> int:
        """Number of image tokens M = (image_size / patch_size)^2."""
        return (self.image_size // self.patch_size) ** 2


@dataclass
class TextConfig:
    """Pre-LN transformer text encoder with padding masks, or a pretrained tower read from
    ``backbone`` (BERT-like or T5 encoder, a local Hugging Face directory). With a backbone, the
    architecture fields are filled in from the checkpoint, the vocabulary and special ids from its
    ``tokenizer.json`` (which replaces the locally trained tokenizer), and ``hf_config`` keeps its
    ``config.json``.
    """

    vocab_size: int = 32128
    max_len: int = 32  # longest prompt, in tokens; longer prompts are truncated by the tokenizer
    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    pad_id: int = 0  # special token ids, set from the tokenizer the model is trained with
    bos_id: int = 1
    eos_id: int = 2
    backbone: str = ""  # local Hugging Face directory (config.json + model.safetensors + tokenizer.json)
    backbone_layers: int = 0  # layers of the backbone to run: 0 all, k > 0 the first k, k < 0 all but the last -k
    freeze: bool | str = False  # true | false | last_N (train only the last N layers and the final norm)
    projection: Literal["linear", "mlp"] = "linear"  # Eq. 1's W1 to the fusion width
    hf_config: dict[str, Any] = field(default_factory=dict)  # the backbone's config.json (filled in)


@dataclass
class FusionConfig:
    """Knobs shared by every fusion, so swapping fusions is a one-word change (STYLE rule 2).

    ``layers`` is the number of transformer layers in the fusion module in all; fusions that
    iterate spread them evenly over ``iterations`` (PAPER.md reads "32 layers" as 4 x 8).
    """

    name: str = "jar"
    num_tokens: int = 64  # N, learned tokens per modality (jar, perceiver, cotokenization)
    iterations: int = 4  # K, fusion iterations (Eq. 4)
    layers: int = 32  # transformer layers in the fusion, in all
    combine: Literal["weighted", "residual", "none"] = "weighted"  # Eq. 4 combination
    resampling: Literal["latent", "spatial"] = "latent"  # Eq. 2, or TokenLearner
    # Initial alpha, beta of the tanh gates (Eq. 3). None (auto): 1.0 (tanh 0.76, an open image path)
    # when the towers start from scratch, where closed gates hold the model on the language prior;
    # 0.0 (the image path starts as the identity, Flamingo's choice) when a tower is pretrained.
    gate_init: float | None = None
    heads: int = 0  # 0: the model's heads
    # Gated cross-attentions (jar, cross_attention) add each query's best logit per head to their
    # output (GatedCrossAttention): the match score softmax hides. False = the paper's Eq. 3.
    match_scores: bool = False
    # What jar's gated cross-attentions read: the resampled image latents f_N (the paper's Eq. 3,
    # O(N^2) per iteration) or the M image tokens themselves (O(N M); a sparse object is not
    # averaged away by the question-free image resampler).
    image_context: Literal["latents", "tokens"] = "latents"
    # With match_scores: also read out, per head, log sum_j exp(s_j - max), about log k when k keys
    # match equally well (a count that softmax normalises away).
    match_count: bool = False
    # With match_scores: also read out, per head, the attention-weighted mean (x, y) of the image
    # tokens (a soft argmax: where the matched object is). jar with image_context: tokens only.
    match_where: bool = False
    # With match_scores: each query also asks *where* (Conditional DETR's spatial query, arXiv
    # 2108.06152): a learned 2-vector per head from the query, dotted with each image token's grid
    # (x, y), is added to the attention logits, so "the object left of ..." can prefer the left cells
    # first-order instead of through positions entangled in the content keys. Zero at init (the model
    # starts as without it). jar with image_context: tokens only.
    position_queries: bool = False
    # With match_where and text_context: tokens: a learned role per text token (a linear map to one
    # number c_i) and, per head, the signed sum sum_i c_i where_i of the tokens' where read-outs, given
    # to every token's score: with c = -1/n on the first referent's words and +1/n on the second's
    # (model.referring.roles trains it), p_B - p_A, so "is A left of B?" is the sign of one read-out.
    match_roles: bool = False
    # With match_roles: the question also asks which way: a learned 2-vector u_i per head of each
    # text token (zero at init), summed over the tokens into the question's direction u, and every
    # token's score reads, per head, u . (sum_i c_i where_i): the signed read-out along the asked
    # direction, so "is A <rel> B?" is the sign of one number for every relation.
    match_direction: bool = False
    # With match_roles: each text token also counts what it matches, its tally sum_j sigmoid(l_j + b)
    # over the image tokens (l_j its logit mean over heads, the referring logit; b learned), and every
    # token's score reads its tally and the roles' signed tally n_B - n_A. With match_direction, u gains
    # three components read against (n_B - n_A, |n_B - n_A|, 1): "are there more A than B?" is then
    # the sign of the read-out along u too (model.referring.tally and .directions train both).
    match_tally: bool = False
    # With match_roles: how many sameness read-outs, one per grounding attribute (grounding.labels, in
    # order; 0 = off): the roles' signed sum of the tokens' attention outputs, o_B - o_A, whose
    # magnitude |o_B - o_A| a linear map turns into one logit per attribute, "do the two referents
    # agree on it?" (model.referring.same trains it from the grounding ground truth); every token's
    # score reads them, and with match_direction u gains one component per attribute read against
    # them: "is A the same size as B?" asks 1 at size.
    match_same: int = 0
    # What jar's iterations start from: the text resampler's N latents t_N (the paper's Eq. 2) or
    # the L text tokens themselves (no text resampler; the fused tokens are then the L positions,
    # masked like the text). A question's referents stay apart in their own tokens.
    text_context: Literal["latents", "tokens"] = "latents"
    # The iterations share one set of weights (ALBERT's / the Universal Transformer's tying; Perceiver's
    # ``weight_tie_layers``): one fusion block and one stack of ``layers_per_iteration`` layers applied
    # ``iterations`` times (jar, perceiver, cotokenization; the fusions that do not iterate, like
    # ``num_tokens``, ignore it, so a preset swaps fusions in one word). FLOPs unchanged, the iterative part's
    # parameters / K: a reading of the paper's "32 layers" that fits its 350M parameters better.
    share_iterations: bool = False

    @property
    def layers_per_iteration(self) -> int:
        """Transformer layers T(.) applied after each fusion iteration."""
        return max(1, self.layers // max(1, self.iterations))


@dataclass
class DecoderConfig:
    """Autoregressive transformer decoder cross-attending to the fused tokens."""

    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    max_len: int = 16  # longest generated/target text, in tokens (EOS included)


@dataclass
class GroundingConfig:
    """An auxiliary objective on the image tokens: for every cell of the token grid, the attributes of
    the object centred in it, or "no object" (the last class). Targets come from a sample's
    ``meta["objects"]`` (dicts with pixel centres ``x``, ``y`` and attribute values: the synthetic
    scenes' ground truth; a reader of region annotations can fill the same field); samples without
    it add nothing. A yes/no answer teaches the image path one bit per question; this gives every
    cell a label, so the tokens learn to be objects early.

    ``weight``: 0 = off; else the summed per-attribute cross-entropy is added to the answer loss
    with this weight. ``labels``: attribute -> its classes, e.g. ``{color: [red, ...], size: [small,
    large]}``; a value outside them is ignored.
    """

    weight: float = 0.0
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class ReferringConfig:
    """An auxiliary objective on the fusion's first cross-attention (question grounding, as MDETR
    aligns words with boxes): for every cell of the image-token grid, whether the object centred in
    it is one the question refers to. The cell's score is its best attention logit over the text
    queries (mean over heads) plus a learned bias, trained with binary cross-entropy; targets come
    from a sample's ``meta["referents"]`` (indices into ``meta["objects"]``: the synthetic questions'
    ground truth; GQA's question annotations give the same), samples without it add nothing. It
    makes the logit q.k, which ``fusion.match_scores`` reads out, the comparison of the question's
    words with each object from the first step, where the answer alone gives one bit per question.

    ``weight``: 0 = off; else the loss is added to the answer loss with this weight. Needs a
    fusion that attends from the text to the image tokens (``jar`` with ``image_context: tokens``).

    ``phrases``: the same logits per question *word*, as MDETR's soft token alignment: each token
    of a phrase that names objects ("circles" and "squares" in "are there more circles than
    squares?") learns which cells hold the objects of its own phrase, the other tokens no target.
    Where ``weight`` says "some word names this cell", this keeps a question's two referents apart,
    each in its own words, as comparing them needs. Targets from ``meta["phrases"]`` (character
    spans with their objects; ``oracle.question_phrases``, MDETR's ``tokens_positive``); 0 = off,
    else its binary cross-entropy is added with this weight. Needs, beside the above, the text
    tokens as the fusion's queries (``text_context: tokens``).
    """

    weight: float = 0.0
    phrases: float = 0.0
    # With fusion.match_roles and phrases > 0: the roles' target from the phrase targets (of a
    # prompt's two referent phrases, the first's words -1/n, the second's +1/n, other words 0;
    # prompts with another number of phrases no target), mean squared error added with this weight.
    roles: float = 0.0
    # With roles > 0: the first layer's signed read-out (every head) learns the offset of the two
    # phrases' objects, sum_i target_i p_i over the words (p_i: the centre of a word's target cells,
    # grid units in [-1, 1]), mean squared error added with this weight.
    offset: float = 0.0
    # With fusion.match_direction: the first layer's asked direction u (every head) learns the
    # direction its relation word names (meta["directions"]: "left of" -> (1, 0), from the relation's
    # subject to its object, y down; the prompt's other words (0, 0)), mean squared error added with
    # this weight; prompts without relation words no target.
    directions: float = 0.0
    # With fusion.match_tally and phrases > 0: the first layer's tally of each phrase word learns the
    # number of cells its phrase's objects are centred in (the count of its phrase target), mean
    # squared error added with this weight; it moves the tally's threshold only (the logits detached:
    # they learn the cells from the phrase targets). With directions > 0 as well, the comparative words' asked
    # components learn what they compare (meta["comparatives"]: "more" -> (-1, 0, -1/2) against
    # (n_B - n_A, |n_B - n_A|, 1), "fewer" (1, 0, -1/2), "as many" (0, -1, 1/2)).
    tally: float = 0.0
    # With fusion.match_same, phrases > 0 and grounding: the first layer's sameness logits learn, for a
    # prompt whose two referent phrases name one object each, whether the two objects share each
    # grounding attribute (their cells' grounding targets), binary cross-entropy added with this weight;
    # it fits the linear map only (the contents detached: fitting them too held the demo task at 38%).
    # With directions > 0 as well, a sameness question's attribute word learns to ask that attribute
    # (meta["same"], oracle.same_asks).
    same: float = 0.0

    @property
    def on(self) -> bool:
        """Whether either referring objective is on."""
        return self.weight > 0 or self.phrases > 0


def referring_fits(fusion: FusionConfig, *, phrases: bool = False) -> bool:
    """Whether ``model.referring`` can run on ``fusion``: it reads JAR's first cross-attention from
    the text to the image tokens, which only ``jar`` with ``image_context: tokens`` has; ``phrases``
    also needs the text tokens themselves as its queries (``text_context: tokens``)."""
    fits = fusion.name == "jar" and fusion.image_context == "tokens"
    return fits and (not phrases or fusion.text_context == "tokens")


def without_unfit_referring(cfg: ModelConfig) -> ModelConfig:
    """``cfg`` (changed in place) with ``referring`` off when its fusion cannot carry it, and the
    JAR-only read-outs with their targets (``match_where``, ``position_queries``, ``match_roles``,
    ``match_direction``, ``match_tally``, ``match_same``; ``referring.roles``, ``offset``, ``directions``,
    ``tally``, ``same``) off
    when what they need is: a recipe written for JAR, run with another fusion or context (``jarvl demo
    --compare``, the benchmarks' arms)."""
    f, r = cfg.fusion, cfg.referring
    if not referring_fits(f):
        r.weight = 0.0
    if not referring_fits(f, phrases=True):
        r.phrases = 0.0
    if not (f.match_scores and referring_fits(f)):
        f.match_where = f.position_queries = False
    if not (f.match_where and referring_fits(f, phrases=True)):
        f.match_roles = False
    if not f.match_roles:
        f.match_direction = f.match_tally = False
        f.match_same = 0
    if not (f.match_roles and r.phrases > 0):
        r.roles = 0.0
    if not r.roles > 0:
        r.offset = 0.0
    if not f.match_direction:
        r.directions = 0.0
    if not (f.match_tally and r.phrases > 0):
        r.tally = 0.0
    if not (f.match_same and r.phrases > 0 and cfg.grounding.weight > 0):
        r.same = 0.0
    return cfg


@dataclass
class ModelConfig:
    """The whole model. ``width`` is D: the fusion and decoder width (Eq. 1 projects to it)."""

    preset: str = "custom"
    width: int = 768
    heads: int = 12
    mlp_ratio: float = 4.0
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    referring: ReferringConfig = field(default_factory=ReferringConfig)
    # The text encoder reads the decoder's token embedding (one vocabulary table, as T5 ties its
    # encoder's, decoder's and output embeddings). Needs the built-in text tower at the model width.
    tie_embeddings: bool = False

    def validate(self) -> ModelConfig:
        """Check the config for values that would only fail deep inside a forward pass."""
        problems = []
        v = self.vision
        if v.image_size % v.patch_size and not v.backbone:  # a pretrained tower's conv drops the remainder (SigLIP 384/14)
            problems.append(f"vision.image_size {v.image_size} is not a multiple of vision.patch_size {v.patch_size}")
        if v.stem == "conv" and not v.backbone and v.patch_size & (v.patch_size - 1):
            problems.append(f"vision.stem=conv needs a power-of-two vision.patch_size, got {v.patch_size}")
        for name, width, heads in (
            ("vision", v.width, v.heads),
            ("text", self.text.width, self.text.heads),
            ("", self.width, self.fusion.heads or self.heads),
            ("decoder", self.width, self.decoder.heads),
        ):
            if width % heads:
                problems.append(f"{name + '.' if name else ''}width {width} is not divisible by its heads {heads}")
        if self.fusion.num_tokens < 1 or self.fusion.iterations < 1 or self.fusion.layers < 0:
            problems.append("fusion.num_tokens and fusion.iterations must be >= 1, fusion.layers >= 0")
        if self.tie_embeddings and (self.text.backbone or self.text.width != self.width or self.text.freeze):
            problems.append(
                "tie_embeddings needs the built-in, unfrozen text tower at the model width "
                f"(got text.backbone={self.text.backbone!r}, text.width={self.text.width}, width={self.width}, text.freeze={self.text.freeze})"
            )
        if self.fusion.match_count and not self.fusion.match_scores:
            problems.append("fusion.match_count needs fusion.match_scores: true")
        if self.fusion.match_where and not (self.fusion.match_scores and referring_fits(self.fusion)):
            problems.append(
                "fusion.match_where needs fusion.match_scores: true and fusion.name=jar with image_context=tokens "
                f"(got {self.fusion.name}, match_scores={self.fusion.match_scores}, image_context={self.fusion.image_context})"
            )
        if self.fusion.match_roles and not (self.fusion.match_where and referring_fits(self.fusion, phrases=True)):
            problems.append("fusion.match_roles needs fusion.match_where: true and text_context=tokens")
        if self.fusion.match_direction and not self.fusion.match_roles:
            problems.append("fusion.match_direction needs fusion.match_roles: true")
        if self.fusion.match_tally and not self.fusion.match_roles:
            problems.append("fusion.match_tally needs fusion.match_roles: true")
        labels = self.grounding.labels
        if isinstance(self.fusion.match_same, bool) or not (isinstance(self.fusion.match_same, int) and self.fusion.match_same >= 0):
            problems.append(
                f"fusion.match_same must be an integer >= 0 (read-outs, one per grounding attribute), got {self.fusion.match_same!r}"
            )
        elif self.fusion.match_same and not self.fusion.match_roles:
            problems.append("fusion.match_same needs fusion.match_roles: true")
        elif self.fusion.match_same and self.fusion.match_same != len(labels):
            problems.append(
                f"fusion.match_same must equal the number of grounding.labels attributes ({len(labels)}: {', '.join(labels) or 'none'}), "
                f"got {self.fusion.match_same}"
            )
        if self.referring.roles > 0 and not (self.fusion.match_roles and self.referring.phrases > 0):
            problems.append("referring.roles needs fusion.match_roles: true and referring.phrases > 0")
        if self.fusion.position_queries and not (self.fusion.match_scores and referring_fits(self.fusion)):
            problems.append(
                "fusion.position_queries needs fusion.match_scores: true and fusion.name=jar with image_context=tokens "
                f"(got {self.fusion.name}, match_scores={self.fusion.match_scores}, image_context={self.fusion.image_context})"
            )
        for name, tower in (("vision", v), ("text", self.text)):
            try:
                trainable = freeze_layers(tower.freeze)
            except ValueError as err:
                problems.append(f"{name}.{err}")
                continue
            resolved = not tower.backbone or tower.hf_config  # a backbone's depth is known once resolved
            if trainable is not None and resolved and trainable > tower.depth:
                problems.append(f"{name}.freeze={tower.freeze} leaves more layers trainable than the tower's {tower.depth}")
            if tower.backbone_layers and not tower.backbone:
                problems.append(f"{name}.backbone_layers needs {name}.backbone (the built-in tower's depth is {name}.depth)")
        if len(v.mean) != 3 or len(v.std) != 3 or min(v.std) <= 0:
            problems.append("vision.mean and vision.std need 3 values each, std > 0")
        g = self.grounding
        if not (g.weight >= 0 and g.weight < float("inf")):
            problems.append(f"grounding.weight must be a finite number >= 0, got {g.weight!r}")
        elif g.weight > 0:
            if not g.labels or not all(g.labels.values()):
                problems.append("grounding.weight > 0 needs grounding.labels (attribute -> its classes)")
            if v.backbone:
                problems.append("grounding needs the built-in vision tower (its tokens are the image grid)")
        r = self.referring
        for key in ("weight", "phrases"):
            value = getattr(r, key)
            if not (value >= 0 and value < float("inf")):
                problems.append(f"referring.{key} must be a finite number >= 0, got {value!r}")
            elif value > 0 and not referring_fits(self.fusion, phrases=key == "phrases"):
                context = ", text_context=tokens" if key == "phrases" else ""
                problems.append(
                    f"referring.{key} > 0 needs fusion.name=jar with fusion.image_context=tokens{context} "
                    f"(got {self.fusion.name}, {self.fusion.image_context}, {self.fusion.text_context})"
                )
        for key in ("roles", "offset", "directions", "tally", "same"):
            value = getattr(r, key)
            if not (value >= 0 and value < float("inf")):
                problems.append(f"referring.{key} must be a finite number >= 0, got {value!r}")
        if r.offset > 0 and not r.roles > 0:
            problems.append("referring.offset needs referring.roles > 0 (it trains the roles' signed read-out)")
        if r.directions > 0 and not self.fusion.match_direction:
            problems.append("referring.directions needs fusion.match_direction: true (it trains the asked direction)")
        if r.tally > 0 and not (self.fusion.match_tally and r.phrases > 0):
            problems.append(
                "referring.tally needs fusion.match_tally: true and referring.phrases > 0 (it trains the phrase words' tallies)"
            )
        if r.same > 0 and not (self.fusion.match_same and r.phrases > 0 and self.grounding.weight > 0):
            problems.append(
                "referring.same needs fusion.match_same > 0, referring.phrases > 0 and grounding.weight > 0 (its targets are the grounding's)"
            )
        if (r.weight > 0 or r.phrases > 0) and v.backbone:
            problems.append("referring needs the built-in vision tower (its tokens are the image grid)")
        if problems:
            raise ValueError("invalid model config: " + "; ".join(problems))
        return self
