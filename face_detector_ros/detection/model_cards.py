"""
Shipped face models and their model cards: find them by name or path, load and check a card.

A model card is a small YAML file beside the model file. The engine-side keys are described in
docs/model-cards.md; `load_card` fills the defaults and resolves `file` against the card's folder.
"""

from __future__ import annotations

from pathlib import Path

from face_detector_ros.files import share_dir
import yaml

MODEL_SUFFIXES = ('.xml', '.onnx', '.tflite')
CARD_SUFFIXES = ('.yaml', '.yml')
DEFAULT_MODEL = 'retinaface'
# models/ beside the package in a source checkout; installs use share/face_detector_ros/models.

# Engine-side defaults; decoder-specific keys have no default here.
CARD_DEFAULTS = {
    'color_order': 'rgb',
    'mean': [0.0, 0.0, 0.0],
    'scale': [1.0, 1.0, 1.0],
    'labels': ['face'],
    'keypoint_names': [],
    'score_threshold': 0.5,
    'nms_iou': 0.3,
    'max_detections': 100,
    'pyramid': [],
    'description': '',
    'license': 'unknown',
}


class ModelError(ValueError):
    """A model or model card that cannot be found, read or used; the message names the file."""


def models_dir() -> Path:
    """Return the folder of shipped models: the source tree's, else the installed share one."""
    try:
        return share_dir() / 'models'
    except (FileNotFoundError, LookupError) as error:
        raise ModelError(f'cannot find the shipped models folder: {error}') from error


def shipped_models() -> dict[str, Path]:
    """Return {name: card path} of the shipped models, sorted by name."""
    folder = models_dir()
    return {path.stem: path for path in sorted(folder.glob('*.yaml'))}


def load_card(name_or_path: str | Path) -> dict:
    """
    Return the model card for a shipped model name, a card path or a model file path.

    A model file resolves to the card beside it whose `file` names it, so a shipped model given by
    path keeps its decoder settings; a model file without such a card is an error (write one).
    """
    text = str(name_or_path)
    shipped = shipped_models()
    if text in shipped:
        return _read_card(shipped[text])
    path = Path(text).expanduser()
    if path.suffix.lower() in CARD_SUFFIXES:
        return _read_card(path)
    if path.suffix.lower() in MODEL_SUFFIXES:
        if not path.is_file():
            raise ModelError(f'model file {path} does not exist')
        for card_path in sorted(path.parent.glob('*.y*ml')):
            card = _read_card(card_path)
            if Path(card['path']).resolve() == path.resolve():
                return card
        raise ModelError(f'model file {path} has no model card beside it: write a YAML card whose '
                         '`file` names it (see docs/model-cards.md)')
    names = ', '.join(shipped) or 'none'
    raise ModelError(f'unknown model {text!r}: give a shipped name ({names}), a card .yaml or a '
                     f'model file ({", ".join(MODEL_SUFFIXES)})')


def _read_card(card_path):
    """Read, check and complete one card; `path` is the model file, `name` the card's stem."""
    card_path = Path(card_path)
    try:
        loaded = yaml.safe_load(card_path.read_text(encoding='utf-8'))
    except (OSError, yaml.YAMLError) as error:
        raise ModelError(f'model card {card_path}: {error}') from error
    except UnicodeDecodeError as error:
        raise ModelError(f'model card {card_path}: not a text YAML file ({error.reason} at '
                         f'byte {error.start})') from None
    if not isinstance(loaded, dict):
        raise ModelError(f'model card {card_path}: expected a mapping of keys, got {loaded!r}')
    for key in ('decoder', 'file'):
        if key not in loaded:
            raise ModelError(f'model card {card_path}: missing key {key!r}')
    card = {**CARD_DEFAULTS, **loaded}
    card['name'] = card_path.stem
    card['card_path'] = str(card_path)
    card['path'] = str(card_path.parent / card['file'])
    if card['color_order'] not in ('rgb', 'bgr'):
        raise ModelError(f'model card {card_path}: color_order must be rgb or bgr')
    if 'std' in card:
        card['scale'] = [1.0 / std for std in _triple(card, 'std', card_path)]
    for key in ('mean', 'scale'):
        card[key] = _triple(card, key, card_path)
    names = card['keypoint_names']
    if not (isinstance(names, list) and all(isinstance(name, str) and name for name in names)
            and len(set(names)) == len(names)):
        raise ModelError(f'model card {card_path}: keypoint_names must be a list of distinct '
                         f'names, got {names!r}')
    pyramid = card['pyramid']
    if not (isinstance(pyramid, list) and all(
            isinstance(size, list) and len(size) == 2 and min(size) >= 1 for size in pyramid)):
        raise ModelError(f'model card {card_path}: pyramid must be a list of [width, height], '
                         f'got {pyramid!r}')
    return card


def _triple(card, key, card_path):
    """Return a per-channel value as a list of 3 floats (a single number applies to all)."""
    value = card[key]
    values = [float(value)] * 3 if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(values) != 3:
        raise ModelError(f'model card {card_path}: {key} needs 1 or 3 numbers, got {value!r}')
    return values
