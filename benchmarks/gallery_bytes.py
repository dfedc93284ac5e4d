"""Bytes per enrolled subject of the kept gallery and of the gallery file, under the default method.

``python benchmarks/gallery_bytes.py [--model PATH] [--lfw DIR] [--subjects 20] [--fusion T_concat]``

The hypothesis templates of the first ``--subjects`` gallery photos of the
public benchmark (LFW, one photo per subject) are computed by the default
pipeline (``make_mitm_pipeline()``: 64 degradation chains, scales 2, 4 and 8,
``--fusion``, by default ``T_concat``, mean-centred) with the face network
``--model`` (default MobileFaceNet, 128-D), then enrolled with
``template_dtype="float32"`` and ``"float16"``. The file is written without
probe means (they do not grow with the gallery).

Printed per enrolled subject, all measured: the bytes of the templates and
metadata the identifier is given (what it kept before it kept only what the
fusion uses; a version-1 gallery file held the same arrays), the bytes of
the arrays it keeps, its pickle's size and the size of the file
:func:`skmitm.save_gallery` writes.
"""

import argparse
import os
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
from _shared import add_data_options, public_benchmark, shared_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--subjects", type=int, default=20, help="gallery subjects enrolled (default 20)")
    parser.add_argument("--fusion", default="T_concat", help="identifier fusion (default T_concat)")
    args = parser.parse_args(argv)

    from skmitm import make_mitm_pipeline, save_gallery

    gallery_images, gallery_y, _, _ = public_benchmark(args.lfw, subjects=args.subjects)
    started = time.perf_counter()
    pipe = make_mitm_pipeline(model=args.model or shared_path("models/mobilefacenet.onnx"), fusion=args.fusion)
    # Every step but the identifier, once: the gallery's hypothesis templates.
    given = pipe[:-1].fit_transform(gallery_images, gallery_y)
    identifier = pipe[-1]
    print(f"{len(given)} photos of {len(given[0])} templates, {given[0].data.shape[1]}-D, computed in "
          f"{time.perf_counter() - started:.0f} s; fusion {identifier.fusion}, {identifier.similarity}")
    for dtype in ("float32", "float16"):
        identifier.set_params(template_dtype=dtype).fit(given, gallery_y)
        n = len(identifier.classes_)
        given_templates = sum(s.data.astype(dtype).nbytes for s in given)
        given_bytes = given_templates + sum(s.meta.nbytes for s in given)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "gallery.npz"
            save_gallery(pipe, path)
            file_bytes = path.stat().st_size
            with np.load(path, allow_pickle=False) as archive:
                rows = archive["templates"]
        print(f"{dtype}: per enrolled subject: given to fit {given_bytes / n:,.0f} bytes (templates "
              f"{given_templates / n:,.0f}, metadata {(given_bytes - given_templates) / n:,.0f}); kept "
              f"{identifier.gallery_nbytes_ / n:,.0f} bytes ({given_bytes / identifier.gallery_nbytes_:.0f} times "
              f"fewer); pickled identifier {len(pickle.dumps(identifier)) / n:,.0f} bytes; gallery file "
              f"{file_bytes / n:,.0f} bytes ({file_bytes:,} in all; {len(rows) / n:g} rows of {rows.dtype} per "
              "subject)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
