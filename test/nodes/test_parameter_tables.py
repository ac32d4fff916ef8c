"""config/face_detector.yaml lists exactly the parameters each node declares, of their types."""

from pathlib import Path

from face_detector_ros.detection.engine import ENGINE_PARAMETERS, InferenceEngine
from face_detector_ros.nodes import camera_node, detector_node, hri_node, tracker_node
import pytest
import yaml

CONFIG = Path(__file__).resolve().parents[2] / 'config' / 'face_detector.yaml'
# Node name (as the nodes call super().__init__) -> its parameter table. Importing the node
# modules imports rclpy but starts nothing.
TABLES = {'camera': camera_node.PARAMETERS, 'face_detector': detector_node.PARAMETERS,
          'face_tracker': tracker_node.PARAMETERS, 'hri_faces': hri_node.PARAMETERS}


def sections():
    document = yaml.safe_load(CONFIG.read_text())
    return {key: value['ros__parameters'] for key, value in document.items()}


def test_every_section_is_a_node_in_any_namespace():
    assert sorted(sections()) == sorted(f'/**/{name}' for name in TABLES)


@pytest.mark.parametrize('node', sorted(TABLES))
def test_a_section_has_exactly_the_keys_of_its_node_table(node):
    section = sections()[f'/**/{node}']
    table = TABLES[node]
    assert sorted(section) == sorted(table), (
        f'missing in the YAML: {sorted(set(table) - set(section))}; '
        f'not declared by the node: {sorted(set(section) - set(table))}')
    for name, value in section.items():
        assert isinstance(value, type(table[name].default)) or table[name].any_type, name


def test_the_detector_declares_the_engine_table():
    assert {name: detector_node.PARAMETERS[name] for name in ENGINE_PARAMETERS} == \
        ENGINE_PARAMETERS


def test_engine_from_parameters_takes_the_table_defaults_for_missing_keys():
    engine = InferenceEngine.from_parameters({'device': 'CPU', 'score_threshold': 0.7,
                                              'model': None, 'input_type': 'raw'})
    assert engine.devices == ['CPU'] and engine.card['name'] == 'retinaface'
    assert engine.score_threshold == 0.7
    assert engine.nms_iou == engine.card['nms_iou'] and engine.max_detections == 100
    assert engine.num_requests == 1 and engine.precision == 'f32'
