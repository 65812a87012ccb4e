#!/usr/bin/python3
"""Trains a small convolutional classifier on scikit-learn's bundled 8x8 digits and exports it to ONNX.

Writes, next to this script:
  model.onnx                      input "image" float32 [batch, 1, 8, 8] (pixels scaled to 0..1),
                                  output "logits" float32 [batch, 10]
  samples/digit_<label>.npy       one test image per class, shape [1, 1, 8, 8]
  test_data_set_0/                a batch of test images and torch's logits for them, in the ONNX
                                  test-data layout, so `kiln test examples/digits` checks kiln against torch

Uses Debian's python3-torch, python3-sklearn and python3-onnx; run with /usr/bin/python3.
"""
import os
import sys

import numpy as np
import torch
from onnx import numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))


class DigitNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
        self.classifier = torch.nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def main():
    torch.manual_seed(0)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)

    model = DigitNet()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for epoch in range(40):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x_test)).numpy()
    accuracy = float((logits.argmax(1) == y_test).mean())
    print(f"test accuracy: {accuracy:.4f} on {len(y_test)} held-out digits")
    if accuracy < 0.95:
        sys.exit("accuracy below 0.95: training went wrong")

    torch.onnx.export(model, torch.from_numpy(x_test[:1]), os.path.join(HERE, "model.onnx"),
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)

    os.makedirs(os.path.join(HERE, "samples"), exist_ok=True)
    for label in range(10):
        first = int(np.nonzero(y_test == label)[0][0])
        np.save(os.path.join(HERE, "samples", f"digit_{label}.npy"), x_test[first:first + 1])

    data_dir = os.path.join(HERE, "test_data_set_0")
    os.makedirs(data_dir, exist_ok=True)
    batch = x_test[:16]
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    with open(os.path.join(data_dir, "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(batch, "image").SerializeToString())
    with open(os.path.join(data_dir, "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(expected, "logits").SerializeToString())
    print("wrote model.onnx, samples/ and test_data_set_0/")


if __name__ == "__main__":
    main()
