"""Render a fixed one-object exists dataset into tensors (train + the 2000 test questions)."""
import sys, time, torch, numpy as np
from jarvl.data.synthetic.dataset import SyntheticDataset
from jarvl.data.synthetic.config import SynthConfig
from jarvl.data.tokenizer import train_tokenizer
from jarvl.data.collate import image_tensor
from jarvl.config import from_dict
from jarvl.data.synthetic.config import SHAPES, SIZES, COLORS
MAX_OBJECTS = 6

def build(opts, n_train, out, test_opts=None, task="vqa", tok_path=None):
    cfg = from_dict(SynthConfig, opts)
    tr = SyntheticDataset(task, "train", n_train, 0, cfg)
    te = SyntheticDataset("vqa", "test", 2000, 0, from_dict(SynthConfig, test_opts or opts))
    texts = [t for i in range(min(n_train, 20000)) for t in (tr.item(i).prompt, tr.item(i).target)]
    other = SyntheticDataset("caption" if task == "vqa" else "vqa", "train", 5000, 1, cfg)
    texts += [t for i in range(5000) for t in (other.item(i).prompt, other.item(i).target)]  # one vocabulary for both tasks
    if tok_path:  # reuse another cache's tokenizer (a pre-training set and its task share one vocabulary)
        from jarvl.data.tokenizer import Tokenizer
        tok = Tokenizer.load(tok_path)
    else:
        tok = train_tokenizer(texts, 512)
    def conv(ds):
        imgs, ps, ts, fam, objs, alls = [], [], [], [], [], []
        for i in range(len(ds)):
            s = ds[i]
            imgs.append(s.image); ps.append(s.prompt); ts.append(s.target); fam.append(s.family)
            o = min(ds.item(i).scene.objects, key=lambda o: (o.x, o.y))  # the first object's state, for the oracle variant
            objs.append([SHAPES.index(o.shape), list(COLORS).index(o.color), SIZES.index(o.size), o.x, o.y])
            every = [[SHAPES.index(o.shape), list(COLORS).index(o.color), SIZES.index(o.size), o.x, o.y] for o in ds.item(i).scene.objects]
            alls.append(every + [[-1] * 5] * (MAX_OBJECTS - len(every)))  # every object's state, padded, for oraclem
        imgs = torch.from_numpy(np.stack(imgs))
        ids = torch.tensor(tok.encode_batch(ps, max_len=24, pad=True))
        tg = torch.tensor(tok.encode_batch(ts, max_len=12 if task == "vqa" else 48, add_eos=True, pad=True))
        return dict(objects=torch.tensor(objs), all_objects=torch.tensor(alls), images=imgs, ids=ids, targets=tg, family=fam, prompts=ps, answers=ts)
    t=time.time(); d = dict(train=conv(tr), test=conv(te)); print("render", time.time()-t)
    tok.save(out + ".tok.json")
    torch.save(d, out)

if __name__ == "__main__":
    import json
    # argv: train options (JSON), train size, output path, [test options (JSON) or "", [train task, [tokenizer to reuse]]]
    args = sys.argv[1:] + [""] * 3
    build(json.loads(args[0]), int(args[1]), args[2], json.loads(args[3]) if args[3] else None, args[4] or "vqa", args[5] or None)
