"""Keras 3 files, written by Keras itself (torch backend, small model, random
weights, one training step so the optimizer has state): a `.keras` archive
and the same model's `.weights.h5`, an input and Keras' predictions, and a
manifest of every weight as h5py reads it from the archive's model.weights.h5.

Run with KERAS_BACKEND=torch (make_fixtures.sh sets it).
"""
import io
import json
import os
import zipfile

os.environ.setdefault("KERAS_BACKEND", "torch")
import h5py
import keras
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "interchange", "keras")


def model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,), name="features")
    x = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    x = keras.layers.BatchNormalization(name="norm")(x)
    outputs = keras.layers.Dense(3, name="output")(x)
    m = keras.Model(inputs, outputs, name="mlp")
    m.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(3)
    m.fit(rng.random((8, 4)).astype("float32"), rng.random((8, 3)).astype("float32"), epochs=1, verbose=0)
    return m


def main():
    os.makedirs(OUT, exist_ok=True)
    m = model()
    m.save(os.path.join(OUT, "mlp.keras"))
    m.save_weights(os.path.join(OUT, "mlp.weights.h5"))
    x = np.random.default_rng(4).random((5, 4)).astype("float32")
    np.save(os.path.join(OUT, "mlp_input.npy"), x)
    np.save(os.path.join(OUT, "mlp_output.npy"), m.predict(x, verbose=0).astype("float32"))
    # Every dataset and group attribute of the archive's weights, as h5py reads them.
    with zipfile.ZipFile(os.path.join(OUT, "mlp.keras")) as archive:
        weights = archive.read("model.weights.h5")
        config = archive.read("config.json").decode()
    entries, attributes = [], {}
    with h5py.File(io.BytesIO(weights), "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                entries.append({"key": name.replace("/", "."), "dtype": str(data.dtype), "shape": list(data.shape),
                                "hex": np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes().hex()})
            for k, v in obj.attrs.items():
                attributes[name.replace("/", ".") + "@" + k] = v if isinstance(v, str) else v.decode() if isinstance(v, bytes) else str(v)
        f.visititems(visit)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"keras_version": keras.__version__, "backend": keras.backend.backend(), "entries": entries,
                   "group_attributes": attributes, "config_json": config}, f, indent=1, sort_keys=True)
        f.write("\n")


def hostile():
    """Archives around hostile weights files (the security fixtures): the HDF5
    read policy must apply inside a .keras archive as it does outside."""
    security = os.path.join(HERE, "security")
    for name in ("h5_external_link", "h5_virtual_other_file", "h5_external_absolute"):
        with zipfile.ZipFile(os.path.join(OUT, f"hostile_{name}.keras"), "w") as archive:
            archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
            archive.writestr("config.json", "{}")
            archive.write(os.path.join(security, name + ".h5"), "model.weights.h5")


if __name__ == "__main__":
    main()
    hostile()
