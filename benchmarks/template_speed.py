"""Templates per second with MobileFaceNet, against a raw onnxruntime run.

``python benchmarks/template_speed.py [--model PATH] [--lfw DIR]``

The extractor's rate includes everything it does (input checks, resizing every
hypothesis to 112×112, normalisation, batching, L2 normalisation); the
baseline is ``InferenceSession.run`` alone on the same batches, already
preprocessed, in the same process with onnxruntime's default threads. Inputs
are LFW face crops (126×126) and 24×24 probes made from them, alternating, so
both downsizing and upsizing are exercised. The two sides are timed batch by
batch, alternating, so that both see the same load on a shared machine; each
pass over all batches is repeated ``--repeats`` times and the best pass of
each side is reported. Target ratio ≥ 0.9.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from _shared import add_data_options, shared_path


def lfw_crops(lfw_dir, n):
    """``n`` SPEC §5 face crops (126×126 RGB) from an LFW folder, in name order."""
    import cv2

    files = sorted(Path(lfw_dir).glob("*/*.jpg"))[:n]
    if len(files) < n:
        raise SystemExit(f"{lfw_dir} holds {len(files)} images; need {n}")
    return [np.ascontiguousarray(cv2.imread(str(f))[55:181, 62:188, ::-1]) for f in files]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--n", type=int, default=1024, help="hypotheses per run")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import cv2
    import onnxruntime as ort

    from skmitm import TemplateExtractor

    model = args.model or shared_path("models/mobilefacenet.onnx")
    crops = lfw_crops(args.lfw or shared_path("data/lfw-deepfunneled"), args.n // 2)
    probes = [cv2.resize(c, (24, 24), interpolation=cv2.INTER_AREA) for c in crops]
    images = [im for pair in zip(crops, probes) for im in pair]

    extractor = TemplateExtractor(model, batch_size=args.batch_size).fit()
    batches = [extractor.network_input(images[s : s + args.batch_size]) for s in range(0, len(images), args.batch_size)]
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    chunks = [images[s : s + args.batch_size] for s in range(0, len(images), args.batch_size)]
    extractor.transform(chunks[0])  # first runs allocate; keep them out of the timings
    session.run(None, {name: batches[0]})
    # Batch by batch, alternating sides, so that both see the same load on a shared machine.
    times = {"raw": [], "full": []}
    for _ in range(args.repeats):
        raw = full = 0.0
        for batch, chunk in zip(batches, chunks):
            start = time.perf_counter()
            session.run(None, {name: batch})
            middle = time.perf_counter()
            extractor.transform(chunk)
            raw += middle - start
            full += time.perf_counter() - middle
        times["raw"].append(raw)
        times["full"].append(full)
    best_raw, best_full = min(times["raw"]), min(times["full"])
    print(f"model: {model} ({extractor.template_dim_}-D, input {extractor.input_size_})")
    print(f"hypotheses per run: {len(images)} (half 126x126 crops, half 24x24), batch size {args.batch_size}")
    print(f"raw onnxruntime run on preprocessed batches: {len(images) / best_raw:8.1f} templates/s")
    print(f"TemplateExtractor.transform (incl. preprocessing): {len(images) / best_full:8.1f} templates/s")
    print(f"ratio extractor / raw: {best_raw / best_full:.3f} (target >= 0.9)")
    print("all runs (s): raw " + " ".join(f"{t:.3f}" for t in times["raw"]) + "; extractor " + " ".join(
        f"{t:.3f}" for t in times["full"]
    ))


if __name__ == "__main__":
    main()
