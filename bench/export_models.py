#!/usr/bin/python3
"""Exports kiln's benchmark models to ONNX, each with a reference input and output from torch.

    /usr/bin/python3 bench/export_models.py                 # every model missing from bench/models
    /usr/bin/python3 bench/export_models.py mlp resnet18    # only these
    /usr/bin/python3 bench/export_models.py --force         # re-export even if present

Each model lands in the ONNX backend-test layout, so `kiln test bench/models` checks kiln against torch:

    bench/models/NAME/model.onnx
    bench/models/NAME/test_data_set_0/input_0.pb, output_0.pb

Weights are random (fixed seed, no downloads); the first axis of every input and output is the dynamic
"batch". Needs Debian's python3-torch, python3-torchvision and python3-onnx
(scripts/install-deps.sh --bench). A model whose export fails is skipped with a one-line reason, and the
script then exits with status 1.
"""
import argparse
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
import onnx.helper
import onnx.numpy_helper
import torch
import torch.nn as nn

OPSET = 17  # the newest opset torch 1.13 exports; it has LayerNormalization as one operator
SEED = 0
REFERENCE_BATCH = 2  # not 1, so that a model that ignores the dynamic batch axis fails the test


class Mlp(nn.Module):
    """784-1024-1024-10 with ReLU: small enough that per-call overhead shows."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                                    nn.Linear(1024, 10))

    def forward(self, x):
        return self.layers(x)


class EncoderLayer(nn.Module):
    """One post-norm BERT layer: self-attention and a GELU feed-forward, each with residual + LayerNorm."""

    def __init__(self, hidden, heads, ff):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.query, self.key, self.value = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.ff_in, self.ff_out = nn.Linear(hidden, ff), nn.Linear(ff, hidden)
        self.act = nn.GELU()
        self.ff_norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x):
        b, t, h = x.shape

        def split_heads(y):  # [b, t, h] -> [b, heads, t, head_dim]
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split_heads(self.query(x)), split_heads(self.key(x)), split_heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        context = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, t, h)
        x = self.attn_norm(x + self.attn_out(context))
        return self.ff_norm(x + self.ff_out(self.act(self.ff_in(x))))


class BertBase(nn.Module):
    """A BERT-base-like encoder: 12 layers, hidden 768, 12 heads, feed-forward 3072, vocabulary 30522."""

    def __init__(self, layers=12, hidden=768, heads=12, ff=3072, vocab=30522, max_positions=512):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_positions, hidden)
        self.register_buffer("position_ids", torch.arange(max_positions).unsqueeze(0), persistent=False)
        self.embed_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, ff) for _ in range(layers))

    def forward(self, input_ids):
        positions = self.position_ids[:, : input_ids.shape[1]]
        x = self.embed_norm(self.word(input_ids) + self.position(positions))
        for layer in self.layers:
            x = layer(x)
        return x


class DcganGenerator(nn.Module):
    """DCGAN's generator (64x64 images from a 100-d latent): a stack of ConvTranspose upsamplings."""

    def __init__(self, latent=100, width=64):
        super().__init__()

        def up(cin, cout, stride, pad):
            return [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.layers = nn.Sequential(*up(latent, width * 8, 1, 0), *up(width * 8, width * 4, 2, 1),
                                    *up(width * 4, width * 2, 2, 1), *up(width * 2, width, 2, 1),
                                    nn.ConvTranspose2d(width, 3, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.layers(z)


def randomize_batchnorm(model):
    """Default BatchNorm statistics (mean 0, variance 1, scale 1, shift 0) make BN an identity, which
    would let a wrong BN folding pass go unnoticed; give them plausible trained-looking values."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
    return model


def torchvision_model(name):
    def build():
        import torchvision.models as tvm
        return randomize_batchnorm(getattr(tvm, name)(weights=None))
    return build


def image_input(batch):
    return torch.randn(batch, 3, 224, 224)


# name -> (build the module, make an input of a given batch, extra dynamic axes of the input)
MODELS = {
    "mlp": (Mlp, lambda b: torch.randn(b, 784), {}),
    "resnet18": (torchvision_model("resnet18"), image_input, {}),
    "resnet50": (torchvision_model("resnet50"), image_input, {}),
    "mobilenet_v2": (torchvision_model("mobilenet_v2"), image_input, {}),
    "squeezenet1_1": (torchvision_model("squeezenet1_1"), image_input, {}),
    "efficientnet_b0": (torchvision_model("efficientnet_b0"), image_input, {}),
    "dcgan_generator": (lambda: randomize_batchnorm(DcganGenerator()), lambda b: torch.randn(b, 100, 1, 1), {}),
    # Token ids stay below 1000 so that every benchmark's random ids are valid (kiln bench and
    # ort_bench.js draw ids from a small range too). The sequence axis is dynamic as well.
    "bert_base": (BertBase, lambda b: torch.randint(0, 1000, (b, 128), dtype=torch.int64), {1: "sequence"}),
}
IDENTITY = "identity"  # one Identity node: measures per-call framework overhead and nothing else


def write_tensor(path, array, name):
    with open(path, "wb") as f:
        f.write(onnx.numpy_helper.from_array(array, name).SerializeToString())


def export_torch(name, folder):
    build, make_input, extra_axes = MODELS[name]
    torch.manual_seed(SEED)
    model = build().eval()
    x = make_input(REFERENCE_BATCH)
    torch.onnx.export(model, (x,), os.path.join(folder, "model.onnx"), opset_version=OPSET,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch", **extra_axes}, "output": {0: "batch", **extra_axes}},
                      do_constant_folding=True)
    # The reference comes from a float64 copy of the same weights: closer to the exact result than
    # torch's own float32 run, so that the comparison measures kiln's error and not torch's.
    with torch.no_grad():
        x64 = x if x.dtype == torch.int64 else x.double()
        expected = model.double()(x64).float().numpy()
    data = os.path.join(folder, "test_data_set_0")
    os.makedirs(data)
    write_tensor(os.path.join(data, "input_0.pb"), x.numpy(), "input")
    write_tensor(os.path.join(data, "output_0.pb"), expected, "output")


def export_identity(folder):
    tensor = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["input"], ["output"])], "identity",
        [tensor("input", onnx.TensorProto.FLOAT, ["batch", 4])], [tensor("output", onnx.TensorProto.FLOAT, ["batch", 4])])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(folder, "model.onnx"))
    x = np.random.default_rng(SEED).standard_normal((REFERENCE_BATCH, 4)).astype(np.float32)
    data = os.path.join(folder, "test_data_set_0")
    os.makedirs(data)
    write_tensor(os.path.join(data, "input_0.pb"), x, "input")
    write_tensor(os.path.join(data, "output_0.pb"), x, "output")


def export(name, out_dir):
    # Written into a scratch folder and renamed at the end, so a crash never leaves a half model behind.
    scratch = tempfile.mkdtemp(prefix=f".{name}-", dir=out_dir)
    try:
        export_identity(scratch) if name == IDENTITY else export_torch(name, scratch)
        os.chmod(scratch, 0o755)  # mkdtemp makes it private; the models are ordinary files
        final = os.path.join(out_dir, name)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(scratch, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main():
    names = list(MODELS) + [IDENTITY]
    parser = argparse.ArgumentParser(description="Export kiln's benchmark models with torch reference data.")
    parser.add_argument("models", nargs="*", help=f"models to export (default: all of {', '.join(names)})")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "models"))
    parser.add_argument("--force", action="store_true", help="re-export models that already exist")
    args = parser.parse_args()
    unknown = [m for m in args.models if m not in names]
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)} (known: {', '.join(names)})")
    torch.set_num_threads(1)  # the benchmark machine is shared; exporting is not timed
    os.makedirs(args.out, exist_ok=True)
    failed = 0
    for name in args.models or names:
        if not args.force and os.path.exists(os.path.join(args.out, name, "model.onnx")):
            print(f"{name}: exists")
            continue
        try:
            export(name, args.out)
            print(f"{name}: exported")
        except Exception as e:  # any exporter failure: report it in one line and go on with the rest
            failed += 1
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"{name}: skipped, export failed: {reason}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
