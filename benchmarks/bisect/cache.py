"""Render a fixed one-object exists dataset into tensors (train + the 2000 test questions)."""
import sys, time, torch, numpy as np
from jarvl.data.synthetic.dataset import SyntheticDataset
from jarvl.data.synthetic.config import SynthConfig
from jarvl.data.tokenizer import train_tokenizer
from jarvl.data.collate import image_tensor
from jarvl.config import from_dict
from jarvl.data.synthetic.config import SHAPES, SIZES, COLORS

def build(opts, n_train, out, test_opts=None):
    cfg = from_dict(SynthConfig, opts)
    tr = SyntheticDataset("vqa", "train", n_train, 0, cfg)
    te = SyntheticDataset("vqa", "test", 2000, 0, from_dict(SynthConfig, test_opts or opts))
    texts = [t for i in range(min(n_train, 20000)) for t in (tr.item(i).prompt, tr.item(i).target)]
    tok = train_tokenizer(texts, 512)
    def conv(ds):
        imgs, ps, ts, fam, objs = [], [], [], [], []
        for i in range(len(ds)):
            s = ds[i]
            imgs.append(s.image); ps.append(s.prompt); ts.append(s.target); fam.append(s.family)
            o = ds.item(i).scene.objects[0]  # the first object's state, for the oracle variant
            objs.append([SHAPES.index(o.shape), list(COLORS).index(o.color), SIZES.index(o.size), o.x, o.y])
        imgs = torch.from_numpy(np.stack(imgs))
        ids = torch.tensor(tok.encode_batch(ps, max_len=24, pad=True))
        tg = torch.tensor(tok.encode_batch(ts, max_len=12, add_eos=True, pad=True))
        return dict(objects=torch.tensor(objs), images=imgs, ids=ids, targets=tg, family=fam, prompts=ps, answers=ts)
    t=time.time(); d = dict(train=conv(tr), test=conv(te)); print("render", time.time()-t)
    tok.save(out + ".tok.json")
    torch.save(d, out)

if __name__ == "__main__":
    import json
    # argv: train options (JSON), train size, output path, [test options (JSON), default the train ones]
    build(json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]) if len(sys.argv) > 4 else None)
