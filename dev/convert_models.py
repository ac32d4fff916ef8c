"""
Convert the shipped BlazeFace short-range .tflite to OpenVINO IR (FP32) beside it.

OpenVINO 2022.3, the last release with the MYRIAD plugin (Neural Compute Stick 2), has no
TFLite reader; it loads this IR. FP32 keeps results identical to the .tflite on the CPU; the
stick converts to FP16 itself when it compiles the model.

    .venv/bin/python dev/convert_models.py
"""

from pathlib import Path

import openvino as ov

MODELS = Path(__file__).resolve().parent.parent / 'models'


def main():
    """Write models/face_detection_short_range.xml and .bin."""
    source = MODELS / 'face_detection_short_range.tflite'
    model = ov.Core().read_model(source)
    target = source.with_suffix('.xml')
    ov.save_model(model, target, compress_to_fp16=False)
    print(f'wrote {target} and {target.with_suffix(".bin")} with OpenVINO {ov.get_version()}')


if __name__ == '__main__':
    main()
