"""Tiny datasets in each benchmark's exact on-disk layout, built in a temporary folder (never downloaded).

Every builder writes small JPEGs with Pillow and returns what the tests need to know about it.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image


def image_bytes(size: tuple[int, int] = (12, 8), color: tuple[int, int, int] = (200, 30, 30), fmt: str = "JPEG") -> bytes:
    """An encoded solid-colour image of ``size`` (W, H)."""
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def noisy_bytes(size: int = 64, fmt: str = "JPEG", seed: int = 0) -> bytes:
    """An encoded noise image: big enough that cutting it in half truncates real pixel data."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# question, ten answers, answer_type, question_type. With predictions PRED_VQA the official VQA
# accuracy is 1.0, 0.6 (2 of 10 agree), 0.9 (3 agree) and 0.0 -> 0.625 overall.
VQA_ITEMS = [
    ("is the cat black?", ["yes"] * 10, "yes/no", "is the"),
    ("how many dogs are there?", ["2"] * 2 + ["3"] * 8, "number", "how many"),
    ("what color is the car?", ["red"] * 3 + ["blue"] * 7, "other", "what color is the"),
    ("what is on the table?", ["cake"] * 10, "other", "what is on the"),
]
PRED_VQA = ["yes", "2", "Red.", "pie"]
VQA_EXPECTED = {"accuracy": 0.625, "per_answer_type": {"yes/no": 1.0, "number": 0.6, "other": 0.45}}


def vqa_image_path(root: Path, split: str, image_id: int) -> Path:
    """Where the VQA layout keeps an image."""
    return root / split / f"COCO_{split}_{image_id:012d}.jpg"


def write_vqa2_json(root: Path, split: str, questions: list, annotations: list | None, raw: dict[str, bytes] | None = None) -> None:
    """The two VQA v2 JSON files; ``raw`` replaces placeholder strings by raw bytes (bad encodings)."""
    files = {f"v2_OpenEnded_mscoco_{split}_questions.json": {"task_type": "Open-Ended", "questions": questions}}
    if annotations is not None:
        files[f"v2_mscoco_{split}_annotations.json"] = {"annotations": annotations}
    for name, data in files.items():
        text = json.dumps(data).encode("utf-8")
        for placeholder, replacement in (raw or {}).items():
            text = text.replace(placeholder.encode(), replacement)
        write(root / name, text)


def vqa_annotation(question_id: int, image_id: int, answers: list[str], answer_type: str, question_type: str) -> dict:
    """One annotation in the official layout (ten answer dicts)."""
    return {
        "question_id": question_id,
        "image_id": image_id,
        "answer_type": answer_type,
        "question_type": question_type,
        "multiple_choice_answer": Counter(answers).most_common(1)[0][0],
        "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": k + 1} for k, a in enumerate(answers)],
    }


def build_vqa2(root: Path, split: str = "val2014", annotated: bool = True) -> list[int]:
    """VQA_ITEMS in the VQA v2 layout; returns the question ids (image i has id 100 + i)."""
    questions, annotations = [], []
    for i, (question, answers, answer_type, question_type) in enumerate(VQA_ITEMS):
        image_id = 100 + i
        qid = image_id * 1000 + 1
        write(vqa_image_path(root, split, image_id), image_bytes(color=(40 * i, 100, 200)))
        questions.append({"image_id": image_id, "question": question, "question_id": qid})
        annotations.append(vqa_annotation(qid, image_id, answers, answer_type, question_type))
    write_vqa2_json(root, split, questions, annotations if annotated else None)
    return [q["question_id"] for q in questions]


# GQA: two open ("query") and two binary ("verify") questions; PRED_GQA gets one open right and
# both binary right -> accuracy 0.75, open 0.5, binary 1.0.
GQA_ITEMS = {
    "201": ("n1", "what color is the bus?", "red", "query"),
    "202": ("n1", "is the bus red?", "yes", "verify"),
    "203": ("n2", "which animal is it?", "cat", "query"),
    "204": ("n2", "is it a dog?", "no", "verify"),
}
PRED_GQA = {"201": "red", "202": "yes", "203": "dog", "204": "no"}


def build_gqa(root: Path, split: str = "val_balanced") -> None:
    """GQA_ITEMS in the GQA layout (``{split}_questions.json``, ``images/{imageId}.jpg``)."""
    data = {}
    for qid, (image_id, question, answer, structural) in GQA_ITEMS.items():
        write(root / "images" / f"{image_id}.jpg", image_bytes())
        data[qid] = {
            "imageId": image_id,
            "question": question,
            "answer": answer,
            "fullAnswer": f"The answer is {answer}.",
            "isBalanced": True,
            "types": {"structural": structural, "semantic": "attr", "detailed": "x"},
            "annotations": {},
            "semantic": [],
            "entailed": [],
            "equivalent": [qid],
            "groups": {},
        }
    write(root / f"{split}_questions.json", json.dumps(data).encode())


SNLI_VE_ITEMS = [
    ("100", "A dog runs.", "entailment"),
    ("100", "A cat sleeps.", "contradiction"),
    ("200", "Two people talk.", "neutral"),
]


def build_snli_ve(root: Path, split: str = "dev", image_root: Path | None = None) -> None:
    """SNLI_VE_ITEMS in the SNLI-VE layout (images under ``image_root`` or ROOT/flickr30k_images)."""
    images = image_root or root / "flickr30k_images"
    lines = []
    for k, (flickr_id, hypothesis, label) in enumerate(SNLI_VE_ITEMS):
        write(images / f"{flickr_id}.jpg", image_bytes())
        lines.append(
            json.dumps(
                {
                    "Flickr30K_ID": flickr_id,
                    "sentence1": "Something happens.",
                    "sentence2": hypothesis,
                    "gold_label": label,
                    "pairID": f"{flickr_id}.jpg#{k}r1",
                    "annotator_labels": [label],
                }
            )
        )
    write(root / f"snli_ve_{split}.jsonl", ("\n".join(lines) + "\n").encode())


KARPATHY = [  # cocoid, split, captions
    (1, "train", ["A man rides a horse.", "A person on a horse."]),
    (2, "restval", ["Two cats on a sofa."]),
    (3, "val", ["A red bus on a street.", "A bus.", "The bus is red."]),
    (4, "test", ["A plate of food."]),
]


def build_coco_karpathy(root: Path) -> None:
    """KARPATHY in the Karpathy layout (``dataset_coco.json``, images under ROOT/{filepath})."""
    images = []
    for cocoid, split, captions in KARPATHY:
        folder = "train2014" if split == "train" else "val2014"
        name = f"COCO_{folder}_{cocoid:012d}.jpg"
        write(root / folder / name, image_bytes())
        sentences = [
            {"raw": c, "tokens": c.lower().rstrip(".").split(), "imgid": cocoid, "sentid": 10 * cocoid + k} for k, c in enumerate(captions)
        ]
        images.append({"filepath": folder, "filename": name, "split": split, "cocoid": cocoid, "imgid": cocoid, "sentences": sentences})
    write(root / "dataset_coco.json", json.dumps({"images": images, "dataset": "coco"}).encode())


def build_coco_official(root: Path, split: str = "val2017") -> dict[int, list[str]]:
    """Two images with captions in the official layout; returns image id -> captions."""
    captions = {7: ["A kite in the sky.", "A kite flying."], 9: ["A boat on a lake."]}
    images, annotations = [], []
    for image_id, caps in captions.items():
        name = f"{image_id:012d}.jpg"
        write(root / split / name, image_bytes())
        images.append({"id": image_id, "file_name": name, "height": 8, "width": 12})
        annotations += [{"image_id": image_id, "id": 100 * image_id + k, "caption": c} for k, c in enumerate(caps)]
    write(root / "annotations" / f"captions_{split}.json", json.dumps({"images": images, "annotations": annotations}).encode())
    return captions


def build_wds(root: Path) -> str:
    """Two WebDataset shards with good and bad samples; returns the brace pattern.

    shard-000: 000 jpg+txt, 001 png+json (vqa), 002 corrupt jpg+txt.
    shard-001: 003 jpg+txt, 004 txt only (no image), 005 jpg+json with an unknown task.
    """
    vqa = {"prompt": "what color?", "target": "red", "task": "vqa", "family": "attribute", "answers": ["red"]}
    shards = {
        "shard-000.tar": [
            ("000.jpg", image_bytes()),
            ("000.txt", b"A red square."),
            ("001.png", image_bytes(fmt="PNG")),
            ("001.json", json.dumps(vqa).encode()),
            ("002.jpg", noisy_bytes()[:300]),
            ("002.txt", b"Broken."),
        ],
        "shard-001.tar": [
            ("003.jpg", image_bytes()),
            ("003.txt", b"Another one."),
            ("004.txt", b"No image."),
            ("005.jpg", image_bytes()),
            ("005.json", json.dumps({**vqa, "task": "detect"}).encode()),
        ],
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, members in shards.items():
        with tarfile.open(root / name, "w") as tar:
            for member, data in members:
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return str(root / "shard-{000..001}.tar")


def tiny_checkpoint(out: Path, fusion: str = "jar", steps: int = 25, seed: int = 0) -> Path:
    """A tiny model trained in process for ``steps`` steps on synthetic VQA, saved as a checkpoint
    folder (``model.safetensors`` + ``config.json`` + ``tokenizer.json``, what ``jarvl train``
    writes), in a few seconds: enough to answer in the task's words, not to answer well."""
    import torch

    from jarvl.data.synthetic import SyntheticDataset
    from jarvl.data.tokenizer import train_tokenizer
    from jarvl.inference import make_collator
    from jarvl.models import build_model, get_preset, save_model
    from jarvl.train.run_tokenizer import fit_model_to_tokenizer

    torch.manual_seed(seed)
    data = SyntheticDataset(task="vqa", split="train", size=steps * 16, seed=seed)
    samples = [data[i] for i in range(len(data))]
    tokenizer = train_tokenizer([t for s in samples for t in (s.prompt, s.target)], vocab_size=8000)
    cfg = fit_model_to_tokenizer(get_preset("tiny", fusion), tokenizer)
    model = build_model(cfg)
    collate = make_collator(cfg, tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(steps):
        b = collate(samples[step * 16 : (step + 1) * 16])
        loss = model(b.images, b.text_ids, b.text_mask, b.targets).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    save_model(model.eval(), out)
    tokenizer.save(out / "tokenizer.json")
    return out
