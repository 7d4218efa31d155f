"""The full image-language model: encoders -> projection (Eq. 1) -> fusion -> text decoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from jarvl.blocks.config import ModelConfig, TextConfig, VisionConfig
from jarvl.blocks.layers import grid_positions, init_weights
from jarvl.models.decoder import Decoder
from jarvl.models.freeze import apply_freeze, fully_frozen
from jarvl.models.fusions import FusionOutput, build_fusion
from jarvl.models.generation import beam_search, greedy_search
from jarvl.models.image_encoder import ImageEncoder
from jarvl.models.pretrained import resolve_backbones
from jarvl.models.pretrained.tower import PretrainedTower
from jarvl.models.text_encoder import TextEncoder


@dataclass
class ModelOutput:
    """logits float[B, T, V]; loss (scalar, when targets were given); the fusion's output."""

    logits: torch.Tensor
    loss: torch.Tensor | None
    fusion: FusionOutput
    grounding_loss: torch.Tensor | None = None  # the grounding objective's part of ``loss`` (unweighted), when it ran
    referring_loss: torch.Tensor | None = None  # the referring objective's part of ``loss`` (unweighted), when it ran
    phrase_loss: torch.Tensor | None = None  # the phrase referring objective's part (unweighted), when it ran


def vision_tower(cfg: VisionConfig) -> nn.Module:
    """The built-in ViT, or the pretrained tower of ``cfg.backbone`` (random weights until loaded)."""
    if not cfg.backbone:
        return ImageEncoder(cfg)
    from jarvl.models.pretrained.vision import PretrainedVisionTower

    return PretrainedVisionTower(cfg)


def text_tower(cfg: TextConfig) -> nn.Module:
    """The built-in text encoder, or the pretrained tower of ``cfg.backbone`` (random weights until loaded)."""
    if not cfg.backbone:
        return TextEncoder(cfg)
    from jarvl.models.pretrained.text import PretrainedTextTower

    return PretrainedTextTower(cfg)


def projection(kind: str, width_in: int, width: int) -> nn.Module:
    """Eq. 1's W1, float[..., Din] -> float[..., D]: ``linear``, or ``mlp`` (Linear-GELU-Linear, LLaVA-1.5's)."""
    if kind == "mlp":
        return nn.Sequential(nn.Linear(width_in, width), nn.GELU(), nn.Linear(width, width))
    return nn.Linear(width_in, width)


def role_targets(phrases: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """Each prompt token's referent role from its phrase targets: phrases float[B, L, M]
    (``Batch.phrases``: a phrase word's row of 0/1 cells, -1 rows elsewhere), text_mask bool[B, L] ->
    float[B, L]. A phrase is a run of consecutive tokens with the same target row. In a prompt with
    exactly two phrases ("is [the red circle] left of [the blue square]?") the first's n tokens get
    -1/n, the second's +1/n and its other tokens 0, so that sum_i c_i p_i is the second referent's
    position minus the first's; every other prompt, and the padding, get NaN (no target)."""
    out = torch.full(phrases.shape[:2], float("nan"))
    has = (phrases[..., 0] >= 0).cpu()
    rows, mask = phrases.detach().cpu(), text_mask.cpu()
    for b in range(rows.shape[0]):
        runs: list[list[int]] = []
        for i in torch.nonzero(has[b]).flatten().tolist():
            if runs and runs[-1][-1] == i - 1 and torch.equal(rows[b, i], rows[b, i - 1]):
                runs[-1].append(i)
            else:
                runs.append([i])
        if len(runs) != 2:
            continue
        out[b][mask[b]] = 0.0
        for sign, run in ((-1.0, runs[0]), (1.0, runs[1])):
            out[b, run] = sign / len(run)
    return out


def direction_loss(asked: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Mean squared error of every head's asked direction (``FusionOutput.asked`` float[B, L, 2, h])
    against the tokens' direction targets float[B, L, 2] (``Batch.directions``, NaN = no target):
    the relation word's (dx, dy), the prompt's other words (0, 0). With ``match_tally`` both are 5
    wide (float[B, L, 5, h] and float[B, L, 5]: the comparative words' three components after the
    two). No target: adds nothing."""
    directions = directions.to(asked.device)
    keep = ~directions.isnan().any(dim=-1)  # (B, L)
    if not keep.any():
        return 0.0 * asked.sum()
    pred = asked.float()[keep]  # (K, 2 or 5, h)
    if pred.shape[1] != directions.shape[-1]:
        raise ValueError(f"direction targets are {directions.shape[-1]} wide, the asked directions {pred.shape[1]}")
    return F.mse_loss(pred, directions[keep].unsqueeze(-1).expand_as(pred))


def tally_loss(tally: torch.Tensor, phrases: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each phrase word's tally (``FusionOutput.tally`` float[B, L]) against
    the number of cells its phrase's objects are centred in (the row sum of its phrase target,
    ``Batch.phrases`` float[B, L, M], -1 rows: no target). No phrase word: adds nothing."""
    phrases = phrases.to(tally.device)
    keep = phrases[..., 0] >= 0  # (B, L)
    if not keep.any():
        return 0.0 * tally.sum()
    return F.mse_loss(tally.float()[keep], phrases[keep].sum(-1))


def same_targets(
    phrases: torch.Tensor, roles: torch.Tensor, grid_targets: torch.Tensor, image_index: torch.Tensor | None = None
) -> torch.Tensor:
    """Whether a prompt's two referents share each grounding attribute: phrases float[B, L, M]
    (``Batch.phrases``), roles float[B, L] (``role_targets``: -1/n on the first referent phrase, +1/n
    on the second, NaN = not two phrases), grid_targets long[Bi, A, M] (``Batch.grid_targets``: each
    cell's attribute classes), image_index long[B] or None -> float[B, A]: 1 where the two phrases'
    objects agree on the attribute, 0 where not, NaN where a phrase does not name exactly one object
    (or its cell has no class)."""
    rows = phrases.clamp(min=0)
    first = (rows * (roles < 0).unsqueeze(-1)).amax(dim=1)  # (B, M): the first phrase's cells
    second = (rows * (roles > 0).unsqueeze(-1)).amax(dim=1)
    grid = grid_targets if image_index is None else grid_targets[image_index]  # (B, A, M)
    a = grid.shape[1]
    pick = lambda cells: grid.gather(2, cells.argmax(-1).view(-1, 1, 1).expand(-1, a, 1)).squeeze(-1)  # noqa: E731
    ca, cb = pick(first), pick(second)  # (B, A)
    ok = (first.sum(-1) == 1) & (second.sum(-1) == 1)  # (B,): one object each
    ok = ok.unsqueeze(-1) & (ca >= 0) & (cb >= 0)
    return torch.where(ok, (ca == cb).float(), torch.full_like(ca, float("nan"), dtype=torch.float))


def same_loss(agree: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of the sameness logits (``FusionOutput.agree`` float[B, A]) against
    ``same_targets`` float[B, A] (NaN = no target, adds nothing)."""
    target = target.to(agree.device)
    keep = ~target.isnan()
    if not keep.any():
        return 0.0 * agree.sum()
    return F.binary_cross_entropy_with_logits(agree.float()[keep], target[keep])


def offset_loss(offset: torch.Tensor, phrases: torch.Tensor, text_mask: torch.Tensor, roles: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error of every head's signed read-out (``FusionOutput.offset`` float[B, 2h], x
    then y per head) against the second referent's centre minus the first's (``role_targets``
    weights on each word's target-cell centre); prompts without role targets add nothing. ``roles``:
    ``role_targets(phrases, text_mask)`` when the caller has it already."""
    roles = (role_targets(phrases, text_mask) if roles is None else roles).to(offset.device)  # (B, L)
    rows = phrases.clamp(min=0)
    centre = rows @ grid_positions(phrases.shape[-1], phrases.device) / rows.sum(-1, keepdim=True).clamp(min=1)  # (B, L, 2)
    target = (roles.nan_to_num(0.0).unsqueeze(-1) * centre).sum(1)  # (B, 2)
    keep = ~roles.isnan().all(dim=1)
    if not keep.any():
        return 0.0 * offset.sum()
    h = offset.shape[1] // 2
    pred = offset.float().view(-1, 2, h)[keep]  # (K, 2, h)
    return F.mse_loss(pred, target[keep].unsqueeze(-1).expand_as(pred))


class JARVLModel(nn.Module):
    """Encoder-decoder with open-vocabulary text output; the fusion is chosen by ``cfg.fusion.name``.

    Submodules ``image_encoder``, ``text_encoder``, ``fusion`` and ``decoder`` are the four parts
    the profiler reports FLOPs for (the Eq. 1 projections ``image_proj``/``text_proj`` count as fusion).
    A tower with a ``backbone`` is a ``transformers`` model (its config resolved from the directory
    if it is not yet); its pretrained weights are loaded by ``jarvl.models.build_model`` or
    ``load_pretrained_towers``, never by this constructor, so loading a trained checkpoint needs
    no backbone directory.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = resolve_backbones(cfg.validate())
        self.image_encoder = vision_tower(cfg.vision)
        self.text_encoder = text_tower(cfg.text)
        # Eq. 1: P(X) = W1 X projects each modality to the fusion width D (profiled as fusion).
        self.image_proj = projection(cfg.vision.projection, cfg.vision.width, cfg.width)
        self.text_proj = projection(cfg.text.projection, cfg.text.width, cfg.width)
        pretrained = bool(cfg.vision.backbone or cfg.text.backbone)  # auto gates: 0 beside a pretrained tower
        self.fusion = build_fusion(cfg.fusion, width=cfg.width, heads=cfg.heads, mlp_ratio=cfg.mlp_ratio, pretrained=pretrained)
        self.decoder = Decoder(cfg.decoder, width=cfg.width, vocab_size=cfg.text.vocab_size, mlp_ratio=cfg.mlp_ratio)
        if cfg.tie_embeddings:  # one table: a checkpoint stores it under both names, loading fills it once
            self.decoder.embed = self.text_encoder.embed
        # Grounding (cfg.grounding): per attribute, a linear map of each image token to its classes + "none".
        g = cfg.grounding
        self.grounding = (
            nn.ModuleDict({name: nn.Linear(cfg.vision.width, len(values) + 1) for name, values in g.labels.items()})
            if g.weight > 0
            else None
        )
        # Referring (cfg.referring): the fusion returns per-word, per-cell match logits (only when
        # ``forward`` has targets for them); a learned bias turns them into "does this word name the
        # object in this cell?" (phrases) and, at each cell's best word, "... one the question names?".
        self.referring_bias = nn.Parameter(torch.zeros(())) if cfg.referring.on else None
        self._init()
        apply_freeze(self.image_encoder, cfg.vision.freeze)
        apply_freeze(self.text_encoder, cfg.text.freeze)
        self.train()  # a fully frozen tower starts in eval mode too

    def _init(self) -> None:
        # Linears, embeddings, norms; gates (TanhGate) and learned queries keep their own init.
        # Pretrained towers keep transformers' own init (their weights are loaded over it anyway).
        towers = (self.image_encoder, self.text_encoder)
        skip = {id(m) for tower in towers if isinstance(tower, PretrainedTower) for m in tower.modules()}
        self.apply(lambda module: None if id(module) in skip else init_weights(module))

    def train(self, mode: bool = True) -> JARVLModel:
        """As ``nn.Module.train``, but a fully frozen tower stays in eval mode (no dropout)."""
        super().train(mode)
        for tower, cfg in ((self.image_encoder, self.cfg.vision), (self.text_encoder, self.cfg.text)):
            if fully_frozen(cfg.freeze):
                tower.eval()
        return self

    def encode(
        self, images: torch.Tensor, text_ids: torch.Tensor, text_mask: torch.Tensor, image_index: torch.Tensor | None = None
    ) -> FusionOutput:
        """float[B, 3, H, W], long[B, L], bool[B, L] -> FusionOutput(float[B, K, D], bool[B, K]).

        Several texts about one image: ``images`` float[Bi, 3, H, W] holds each image once and
        ``image_index`` long[B] gives each text its row. The image encoder (and a fusion's
        question-free image path) then runs once per image, not once per text; the result equals
        the call with ``images[image_index]``.
        """
        if image_index is not None and (image_index.dim() != 1 or image_index.shape[0] != text_ids.shape[0]):
            raise ValueError(f"image_index must be long[{text_ids.shape[0]}] (one row per text), got {tuple(image_index.shape)}")
        return self._encode(images, text_ids, text_mask, image_index)[0]

    def _encode(
        self, images: torch.Tensor, text_ids: torch.Tensor, text_mask: torch.Tensor, image_index: torch.Tensor | None
    ) -> tuple[FusionOutput, torch.Tensor]:
        """``encode``, and the image encoder's tokens float[Bi, M, Dv] (what grounding reads)."""
        tokens = self.image_encoder(images)  # (Bi, M, Dv)
        image = self.image_proj(tokens)  # (Bi, M, D)
        text = self.text_proj(self.text_encoder(text_ids, text_mask))  # (B, L, D)
        return self.fusion(image, text, text_mask, image_index=image_index), tokens

    def grounding_loss(self, tokens: torch.Tensor, grid_targets: torch.Tensor) -> torch.Tensor:
        """Summed cross-entropy of each attribute's cell classes: tokens float[Bi, M, Dv], grid_targets
        long[Bi, A, M] (A = attributes in ``cfg.grounding.labels`` order; -100 = no target)."""
        total = tokens.new_zeros(())
        for a, head in enumerate(self.grounding.values()):
            target, logits = grid_targets[:, a], head(tokens).flatten(0, 1).float()
            if (target != -100).any():
                total = total + F.cross_entropy(logits, target.flatten(), ignore_index=-100)
            else:  # no ground truth in this batch: adds nothing (not NaN), and DDP still sees the head used
                total = total + 0.0 * logits.sum()
        return total

    def referring_loss(self, logits: torch.Tensor, mask: torch.Tensor, referents: torch.Tensor) -> torch.Tensor:
        """Mean binary cross-entropy of each cell's referring logit, its best over the queries:
        logits float[B, K, M] (the fusion's ``referring``), mask bool[B, K] (its queries: True = real),
        referents float[B, M] (1 referred to, 0 not, -1 no target)."""
        scores = logits.float().masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)  # (B, M)
        return self._binary(scores, referents)

    def phrase_loss(self, logits: torch.Tensor, phrases: torch.Tensor) -> torch.Tensor:
        """Mean binary cross-entropy of each phrase word's logit with each cell: logits float[B, L, M]
        (the fusion's ``referring`` over the text tokens), phrases float[B, L, M] (``Batch.phrases``:
        1 the word's phrase names the cell's object, 0 not, -1 no target)."""
        return self._binary(logits.float(), phrases)

    def _binary(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        keep = targets >= 0
        logits = (scores + self.referring_bias).masked_fill(~keep, 0.0)
        if not keep.any():  # nothing to learn here: adds nothing, and DDP still sees the bias used
            return 0.0 * logits.sum()
        return F.binary_cross_entropy_with_logits(logits[keep], targets[keep])

    def role_loss(self, roles: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean squared error of each text token's role (the fusion's ``roles`` float[B, L]) against
        ``target`` float[B, L] (``role_targets``; NaN = no target, adds nothing)."""
        target = target.to(roles.device)
        keep = ~target.isnan()
        if not keep.any():
            return 0.0 * roles.sum()
        return F.mse_loss(roles.float()[keep], target[keep])

    def decoder_inputs(self, targets: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: [BOS, y_1 .. y_{T-1}] for targets long[B, T]."""
        bos = targets.new_full((targets.shape[0], 1), self.cfg.text.bos_id)
        return torch.cat([bos, targets[:, :-1]], dim=1)

    def forward(
        self,
        images: torch.Tensor,
        text_ids: torch.Tensor,
        text_mask: torch.Tensor,
        targets: torch.Tensor,
        image_index: torch.Tensor | None = None,
        *,
        grid_targets: torch.Tensor | None = None,
        referents: torch.Tensor | None = None,
        phrases: torch.Tensor | None = None,
        directions: torch.Tensor | None = None,
    ) -> ModelOutput:
        """targets long[B, T]: answer tokens, EOS, then padding. Loss: token cross-entropy, padding ignored.

        ``image_index`` long[B]: see ``encode`` (``images`` then holds each image once).
        ``grid_targets`` long[Bi, A, M] (``Batch.grid_targets``): with ``cfg.grounding`` on, the loss
        adds ``grounding.weight`` x the grounding objective (``grounding_loss``). ``referents``
        float[B, M] (``Batch.referents``): with ``cfg.referring.weight`` > 0, the loss adds that weight
        x the referring objective (``referring_loss``); ``phrases`` float[B, L, M] (``Batch.phrases``),
        with ``cfg.referring.phrases`` > 0, that weight x ``phrase_loss`` (and ``referring.tally`` x
        ``tally_loss``); ``directions`` float[B, L, 2 or 5] (``Batch.directions``), with
        ``cfg.referring.directions`` > 0, that weight x ``direction_loss``.
        """
        r = self.cfg.referring
        referents = referents if r.weight > 0 else None
        phrases = phrases if r.phrases > 0 else None
        self.fusion.referring = self.referring_bias is not None and (referents is not None or phrases is not None)
        try:
            fused, tokens = self._encode(images, text_ids, text_mask, image_index)
        finally:
            self.fusion.referring = False
        logits = self.decoder(self.decoder_inputs(targets), fused.tokens, fused.mask)  # (B, T, V)
        labels = targets.masked_fill(targets == self.cfg.text.pad_id, -100)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)
        grounding = None
        if self.grounding is not None and grid_targets is not None:
            grounding = self.grounding_loss(tokens, grid_targets)
            loss = loss + self.cfg.grounding.weight * grounding
        referring = phrase = None
        if fused.referring is not None and referents is not None:
            referring = self.referring_loss(fused.referring, fused.mask, referents)
            loss = loss + r.weight * referring
        if fused.referring is not None and phrases is not None:
            if phrases.shape != fused.referring.shape:
                raise ValueError(
                    f"phrases must be float[B, L, M] over the text tokens {tuple(fused.referring.shape)}, got {tuple(phrases.shape)}"
                )
            phrase = self.phrase_loss(fused.referring, phrases)
            loss = loss + r.phrases * phrase
        roles = None
        if fused.roles is not None and phrases is not None and (r.roles > 0 or r.same > 0):
            roles = role_targets(phrases, text_mask).to(phrases.device)  # once: every objective below reads it
        if r.roles > 0 and roles is not None:
            loss = loss + r.roles * self.role_loss(fused.roles, roles)
            if r.offset > 0:
                loss = loss + r.offset * offset_loss(fused.offset, phrases, text_mask, roles)
        if r.same > 0 and roles is not None and fused.agree is not None and grid_targets is not None:
            loss = loss + r.same * same_loss(fused.agree, same_targets(phrases, roles, grid_targets, image_index))
        if r.directions > 0 and fused.asked is not None and directions is not None:
            loss = loss + r.directions * direction_loss(fused.asked, directions)
        if r.tally > 0 and fused.tally is not None and phrases is not None:
            loss = loss + r.tally * tally_loss(fused.tally, phrases)
        return ModelOutput(logits, loss, fused, grounding, referring, phrase)

    @torch.no_grad()
    def generate(
        self,
        images: torch.Tensor,
        text_ids: torch.Tensor,
        text_mask: torch.Tensor,
        *,
        image_index: torch.Tensor | None = None,
        max_new_tokens: int | None = None,
        num_beams: int = 1,
        length_penalty: float = 1.0,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Generate answer ids long[B, <= max_new_tokens] (EOS included, then padding).

        ``num_beams`` 1 is greedy search; more is beam search. The length limit defaults to (and
        may not exceed) ``decoder.max_len``. ``image_index`` long[B]: see ``encode``.
        """
        fused = self.encode(images, text_ids, text_mask, image_index)
        return self.generate_from(
            fused, max_new_tokens=max_new_tokens, num_beams=num_beams, length_penalty=length_penalty, use_cache=use_cache
        )

    @torch.no_grad()
    def generate_from(
        self,
        fused: FusionOutput,
        *,
        max_new_tokens: int | None = None,
        num_beams: int = 1,
        length_penalty: float = 1.0,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """``generate`` from an ``encode`` output already computed (e.g. kept for its diagnostics)."""
        limit = self.cfg.decoder.max_len
        max_new_tokens = min(max_new_tokens or limit, limit)
        ids = dict(bos_id=self.cfg.text.bos_id, eos_id=self.cfg.text.eos_id, pad_id=self.cfg.text.pad_id)
        if num_beams <= 1:
            return greedy_search(self.decoder, fused.tokens, fused.mask, max_new_tokens=max_new_tokens, use_cache=use_cache, **ids)
        return beam_search(
            self.decoder,
            fused.tokens,
            fused.mask,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            length_penalty=length_penalty,
            use_cache=use_cache,
            **ids,
        )
