"""Checks a .weights.h5 that Sheaf wrote against the one Keras wrote.

Usage: check_keras_weights.py SHEAF_WRITTEN.weights.h5 KERAS_WRITTEN.weights.h5 [ARCHIVE.keras INPUT.npy OUTPUT.npy]
       check_keras_weights.py --archive SHEAF_WRITTEN.keras KERAS_WRITTEN.keras INPUT.npy OUTPUT.npy

Always (h5py): the same groups, datasets (names, dtypes, shapes, values) and
group attributes. When Keras is importable (KERAS_BACKEND from the
environment) and the archive is given: the archive's model with the weights
loaded from Sheaf's file predicts Keras' recorded outputs. Prints one line
per check; exits 1 on any difference.
"""
import os
import sys

import h5py
import numpy as np


def tree(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in obj.attrs.items()}
            if isinstance(obj, h5py.Dataset):
                out[name] = ("dataset", str(obj.dtype), obj.shape, obj[()].tobytes(), attrs)
            else:
                out[name] = ("group", attrs)
        f.visititems(visit)
    return out


def archive():
    """A .keras archive Sheaf wrote: Keras' members, the same JSON, the same weights layout;
    with Keras, load_model gives the recorded predictions."""
    import io
    import tempfile
    import zipfile
    ours, theirs = zipfile.ZipFile(sys.argv[2]), zipfile.ZipFile(sys.argv[3])
    if sorted(ours.namelist()) != sorted(theirs.namelist()):
        print(f"members differ: {ours.namelist()} vs {theirs.namelist()}")
        sys.exit(1)
    for name in ("config.json", "metadata.json"):
        if ours.read(name) != theirs.read(name):
            print(f"{name} differs")
            sys.exit(1)
    with tempfile.TemporaryDirectory() as folder:
        a, b = os.path.join(folder, "a.h5"), os.path.join(folder, "b.h5")
        open(a, "wb").write(ours.read("model.weights.h5"))
        open(b, "wb").write(theirs.read("model.weights.h5"))
        if tree(a) != tree(b):
            print("model.weights.h5 differs in layout or values")
            sys.exit(1)
    print("same members, JSON and weights layout as Keras' own archive")
    try:
        import keras
    except Exception:
        print("keras not installed: the load check is skipped")
        return
    model = keras.saving.load_model(sys.argv[2], compile=False)
    got = np.asarray(model.predict(np.load(sys.argv[4]), verbose=0))
    if not np.array_equal(got, np.load(sys.argv[5])):
        print("predictions differ")
        sys.exit(1)
    print("keras.saving.load_model read it: predictions identical")


def main():
    if sys.argv[1] == "--archive":
        return archive()
    ours, theirs = tree(sys.argv[1]), tree(sys.argv[2])
    if ours != theirs:
        for name in sorted(set(ours) | set(theirs)):
            if ours.get(name) != theirs.get(name):
                print(f"differs: {name}: {str(ours.get(name))[:120]} vs {str(theirs.get(name))[:120]}")
        sys.exit(1)
    print(f"same layout as Keras' own file: {len(ours)} objects")
    if len(sys.argv) < 6:
        return
    try:
        import keras
    except Exception:
        print("keras not installed: the load check is skipped")
        return
    model = keras.saving.load_model(sys.argv[3], compile=False)
    model.load_weights(sys.argv[1])
    got = np.asarray(model.predict(np.load(sys.argv[4]), verbose=0))
    expected = np.load(sys.argv[5])
    if not np.array_equal(got, expected):
        print(f"predictions differ: max {np.abs(got - expected).max()}")
        sys.exit(1)
    print("keras.Model.load_weights read it: predictions identical")


if __name__ == "__main__":
    main()
