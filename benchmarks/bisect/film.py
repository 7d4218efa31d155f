"""FiLM (Perez et al. 2018) as specified in issue 11, answering over the vocabulary's first token."""
import torch
import torch.nn.functional as F
from torch import nn
from types import SimpleNamespace

def coords(x):
    b, _, h, w = x.shape
    ys = torch.linspace(-1, 1, h).view(1, 1, h, 1).expand(b, 1, h, w)
    xs = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(b, 1, h, w)
    return torch.cat([x, xs, ys], 1)

class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = nn.Conv2d(c + 2, c, 1); self.c2 = nn.Conv2d(c, c, 3, padding=1); self.bn = nn.BatchNorm2d(c, affine=False)
    def forward(self, x, gamma, beta):
        h = F.relu(self.c1(coords(x)))
        y = self.bn(self.c2(h))
        y = F.relu(gamma[:, :, None, None] * y + beta[:, :, None, None])
        return h + y

class FiLM(nn.Module):
    def __init__(self, vocab, width=64, blocks=4):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.Conv2d(width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU())
        self.emb = nn.Embedding(vocab, 128); self.gru = nn.GRU(128, 256, batch_first=True)
        self.film = nn.Linear(256, 2 * width * blocks)
        self.blocks = nn.ModuleList(Block(width) for _ in range(blocks))
        self.head = nn.Conv2d(width + 2, 256, 1)
        self.mlp = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, vocab))
        self.width = width
    def forward(self, images, ids, mask, targets):
        x = self.stem(images)
        lengths = mask.sum(1).clamp(min=1)
        e = self.emb(ids)
        packed = nn.utils.rnn.pack_padded_sequence(e, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.gru(packed)
        film = self.film(h[-1]).view(-1, len(self.blocks), 2, self.width)
        for i, blk in enumerate(self.blocks):
            x = blk(x, 1 + film[:, i, 0], film[:, i, 1])
        z = F.relu(self.head(coords(x))).amax(dim=(2, 3))
        logits = self.mlp(z)
        loss = F.cross_entropy(logits, targets[:, 0])
        return SimpleNamespace(logits=logits[:, None], loss=loss)

from jarvl.models.text_encoder import TextEncoder
from jarvl.models.image_encoder import ImageEncoder
from jarvl.models.decoder import Decoder
from jarvl.blocks.layers import init_weights

def make_stem(words, width, patch):
    """JAR's ConvStem with the changes named in ``words``: ``gnc`` per-channel GroupNorm, ``bn`` BatchNorm,
    ``nonorm`` none; ``relu``; ``k4`` 4x4 kernels (FiLM's); ``endnorm`` norm + activation after the last
    conv too; ``torchinit`` PyTorch's default conv init instead of jar's init_weights."""
    import math
    if "film" in words:  # FiLM's stem (two 4x4 stride-2 convs, BatchNorm, ReLU), then a stride-(patch/4) conv to the width
        return nn.Sequential(nn.Conv2d(3, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                             nn.Conv2d(64, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                             nn.Conv2d(64, width, patch // 4, patch // 4))
    steps = int(math.log2(patch))
    chans = [3] + [max(16, width // 2 ** (steps - i)) for i in range(1, steps)] + [width]
    k, pad = (4, 1) if "k4" in words else (3, 1)
    def norm(c):
        if "bn" in words: return nn.BatchNorm2d(c)
        if "gnc" in words: return nn.GroupNorm(c, c)
        if "nonorm" in words: return nn.Identity()
        return nn.GroupNorm(1, c)
    act = nn.ReLU if "relu" in words else nn.GELU
    layers = []
    for i in range(steps):
        layers.append(nn.Conv2d(chans[i], chans[i + 1], k, stride=2, padding=pad))
        if i < steps - 1 or "endnorm" in words:
            layers += [norm(chans[i + 1]), act()]
    net = nn.Sequential(*layers)
    if "torchinit" not in words:
        net.apply(init_weights)
    return net

class Hybrid(FiLM):
    """FiLM with one part swapped for JAR's: text (jar text encoder, mean-pooled), image (jar ViT), decoder."""
    def __init__(self, cfg, swap):
        super().__init__(cfg.text.vocab_size)
        self.swap, self.cfg = swap, cfg
        if "text" in swap:
            self.text = TextEncoder(cfg.text); self.text_out = nn.Linear(cfg.text.width, 256)
        if "image" in swap:
            self.img = ImageEncoder(cfg.vision); self.img_out = nn.Conv2d(cfg.vision.width, self.width, 1)
        if "decoder" in swap:
            self.to_mem = nn.Linear(256, cfg.width)
            self.decoder = Decoder(cfg.decoder, width=cfg.width, vocab_size=cfg.text.vocab_size, mlp_ratio=cfg.mlp_ratio)
        for name in ("text", "text_out", "img", "img_out", "to_mem", "decoder"):
            if hasattr(self, name): getattr(self, name).apply(init_weights)
        if "image" in swap and "stem" in swap and swap != "image_stem":
            self.img.stem = make_stem(swap.split("_"), cfg.vision.width, cfg.vision.patch_size)
    def forward(self, images, ids, mask, targets):
        if "image" in self.swap:
            if "stem" in self.swap:
                t = self.img.stem(images).flatten(2).transpose(1, 2)
            elif "nopos" in self.swap:
                t = self.img.encoder(self.img.stem(images).flatten(2).transpose(1, 2))
            else:
                t = self.img(images)
            b, n, c = t.shape; g = int(n ** 0.5)
            x = self.img_out(t.transpose(1, 2).reshape(b, c, g, g))
        else:
            x = self.stem(images)
        if "text" in self.swap:
            h = self.text(ids, mask); m = mask[..., None].float()
            q = self.text_out((h * m).sum(1) / m.sum(1))
        else:
            lengths = mask.sum(1).clamp(min=1)
            packed = nn.utils.rnn.pack_padded_sequence(self.emb(ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
            q = self.gru(packed)[1][-1]
        film = self.film(q).view(-1, len(self.blocks), 2, self.width)
        for i, blk in enumerate(self.blocks):
            x = blk(x, 1 + film[:, i, 0], film[:, i, 1])
        z = F.relu(self.head(coords(x))).amax(dim=(2, 3))
        if "decoder" in self.swap:
            mem = self.to_mem(F.relu(self.mlp[0](z)))[:, None]
            bos = targets.new_full((targets.shape[0], 1), 1)
            logits = self.decoder(torch.cat([bos, targets[:, :-1]], 1), mem, torch.ones(mem.shape[:2], dtype=torch.bool))
            labels = targets.masked_fill(targets == 0, -100)
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
            return SimpleNamespace(logits=logits, loss=loss)
        logits = self.mlp(z)
        return SimpleNamespace(logits=logits[:, None], loss=F.cross_entropy(logits, targets[:, 0]))
